package modules

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labfleet/labfleet/internal/agentclient"
)

// connOptions are the options every module takes to reach its agent. A
// binary module cannot read inventory variables, so the playbook passes
// them, e.g. agent: "{{ ansible_host }}:{{ labagent_port | default(7443) }}".
var connOptions = []Option{
	{Name: "agent", Kind: Str},
	{Name: "ca", Kind: Str},
	{Name: "cert", Kind: Str},
	{Name: "key", Kind: Str},
	{Name: "token_file", Kind: Str},
	{Name: "server_name", Kind: Str},
	{Name: "insecure", Kind: Bool, Default: false},
	{Name: "timeout", Kind: Seconds, Default: agentclient.CallTimeout},
}

// withConn returns opts followed by the connection options.
func withConn(opts ...Option) []Option {
	return append(opts, connOptions...)
}

// connFrom reads the connection options. TLS files left empty fall back
// to LABFLEET_CA, LABFLEET_CERT, LABFLEET_KEY (unless insecure) and
// LABFLEET_TOKEN_FILE, the variables labcontroller reads, as they are set
// where the module runs.
func connFrom(p *Params, agent string) (agentclient.Options, error) {
	if agent == "" {
		return agentclient.Options{}, optErr(`agent is required: the agent's HOST:PORT, e.g. agent: "{{ ansible_host }}:{{ labagent_port | default(7443) }}"`)
	}
	addr, err := agentAddr(agent)
	if err != nil {
		return agentclient.Options{}, err
	}
	o := agentclient.Options{
		Addr:       addr,
		CAFile:     p.Str("ca"),
		CertFile:   p.Str("cert"),
		KeyFile:    p.Str("key"),
		TokenFile:  orEnv(p.Str("token_file"), "LABFLEET_TOKEN_FILE"),
		ServerName: p.Str("server_name"),
		Insecure:   p.Bool("insecure"),
		Spelling:   spelling,
	}
	// A plaintext loopback agent takes no TLS files, so the environment's
	// (meant for the TLS agents) must not make insecure: true fail.
	if !o.Insecure {
		o.CAFile, o.CertFile, o.KeyFile = orEnv(o.CAFile, "LABFLEET_CA"), orEnv(o.CertFile, "LABFLEET_CERT"), orEnv(o.KeyFile, "LABFLEET_KEY")
	}
	return o, nil
}

// agentAddr accepts HOST:PORT, or HOST alone for the default port.
func agentAddr(s string) (string, error) {
	if h, port, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", optErr("agent %q: %q is not a port", s, port)
		}
		if h == "" {
			return "", optErr("agent %q has no host", s)
		}
		return s, nil
	}
	if ip := net.ParseIP(s); ip != nil || (s != "" && !strings.ContainsAny(s, ":/ ")) {
		return net.JoinHostPort(s, strconv.Itoa(agentclient.DefaultPort)), nil
	}
	return "", optErr("agent %q is not HOST:PORT", s)
}

func orEnv(v, env string) string {
	if v != "" {
		return v
	}
	return os.Getenv(env)
}

// dial connects to the agent named by the agent option.
func dial(p *Params) (*agentclient.Conn, string, *Result) {
	o, err := connFrom(p, p.Str("agent"))
	if err != nil {
		return nil, "", Fail(err.Error())
	}
	c, err := agentclient.Dial(o)
	if err != nil {
		return nil, o.Addr, Fail(err.Error())
	}
	return c, o.Addr, nil
}

// call runs one short RPC under the timeout option.
func call[T any](ctx context.Context, p *Params, fn func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Duration("timeout"))
	defer cancel()
	return fn(ctx)
}

// spelling is how a task names the connection options, for errors.
var spelling = agentclient.Spelling{CA: "ca", Cert: "cert", Key: "key", Token: "token_file", Insecure: "insecure"}

// explain says in one line what went wrong calling the agent at addr.
func explain(addr string, err error) string {
	return agentclient.Explain(addr, spelling, err).Error()
}

// streamTimeout bounds a Deploy or Rollback stream: the pull and the
// health gate happen inside it. The agent finishes a deploy even when the
// caller goes away, so this only bounds how long the task waits.
const streamTimeout = 30 * time.Minute
