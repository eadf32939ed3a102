//go:build !labfleet_lean

package pluginkit

// The options and helpers of the plugins that talk to labagents. They pull
// in gRPC, so the lean build of check_app (-tags labfleet_lean), which
// talks HTTP only, leaves them out and starts faster.

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/tlsfiles"
)

// AgentTLS are the options that say how to authenticate to agents.
type AgentTLS struct {
	CAFile, CertFile, KeyFile, TokenFile string
	Insecure                             bool
}

// Register adds --cacert, --cert, --key, --token-file and --insecure.
func (a *AgentTLS) Register(fs *pflag.FlagSet) {
	fs.StringVar(&a.CAFile, "cacert", "", "CA `FILE` that verifies the agent's certificate (default: system roots)")
	fs.StringVar(&a.CertFile, "cert", "", "client certificate `FILE` for mTLS")
	fs.StringVar(&a.KeyFile, "key", "", "client key `FILE` for mTLS")
	fs.StringVar(&a.TokenFile, "token-file", "", "`FILE` holding the bearer token to send")
	fs.BoolVar(&a.Insecure, "insecure", false, "plaintext gRPC (only to a loopback agent)")
}

// Spelling is how the plugins name the connection options in errors: the
// CA option is --cacert, as check_http's.
var Spelling = agentclient.Spelling{CA: "--cacert", Cert: "--cert", Key: "--key", Token: "--token-file", Insecure: "--insecure"}

// Options returns the connection options for the agent at addr.
func (a *AgentTLS) Options(addr string) agentclient.Options {
	return agentclient.Options{Addr: addr, CAFile: a.CAFile, CertFile: a.CertFile, KeyFile: a.KeyFile,
		TokenFile: a.TokenFile, Insecure: a.Insecure, Spelling: Spelling}
}

// AgentFlags are the options of the plugins that ask one agent.
type AgentFlags struct {
	Host string
	Port int
	AgentTLS
}

// Register adds -H/--hostname, -p/--port and the AgentTLS options.
func (a *AgentFlags) Register(fs *pflag.FlagSet) {
	fs.StringVarP(&a.Host, "hostname", "H", "", "agent `HOST` name or address (required)")
	fs.IntVarP(&a.Port, "port", "p", agentclient.DefaultPort, "agent gRPC `PORT`")
	a.AgentTLS.Register(fs)
}

// Addr is HOST:PORT.
func (a *AgentFlags) Addr() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// Dial checks the options and prepares the connection (gRPC connects on
// the first call). Bad options are a usage error.
func (a *AgentFlags) Dial() (*agentclient.Conn, error) {
	if a.Host == "" {
		return nil, Usagef("-H HOST is required")
	}
	if a.Port < 1 || a.Port > 65535 {
		return nil, Usagef("-p %d is not a port number", a.Port)
	}
	return DialAgent(a.AgentTLS.Options(a.Addr()))
}

// DialAgent prepares a connection, turning bad options into a usage error.
// It refuses a key or token file that every user on the machine may read
// (mode o+r or o+w): whoever reads it can act as the monitoring's client
// certificate or token, which labagent lets deploy. Group permissions are
// fine (root:nagios 0640).
func DialAgent(o agentclient.Options) (*agentclient.Conn, error) {
	for _, f := range []struct{ opt, path string }{{Spelling.Key, o.KeyFile}, {Spelling.Token, o.TokenFile}} {
		if f.path == "" {
			continue
		}
		if err := tlsfiles.CheckPrivate(f.path); errors.Is(err, tlsfiles.ErrReadable) {
			return nil, Usagef("refusing %s: %v", f.opt, err)
		}
	}
	c, err := agentclient.Dial(o)
	if errors.Is(err, agentclient.ErrOptions) {
		return nil, &UsageError{Msg: err.Error()}
	}
	return c, err
}

// AgentFailure records a failed call on conn on r: CRITICAL (the agent is
// down, unreachable, refuses us or failed) except for the codes that mean
// our request was wrong, which are UNKNOWN. A call that ran out of time is
// left to the runtime's timeout report. It returns the state recorded.
func AgentFailure(ctx context.Context, r *Result, conn *agentclient.Conn, err error) Status {
	if ctx.Err() != nil {
		return UNKNOWN
	}
	s := CRITICAL
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unimplemented:
		s = UNKNOWN
	}
	r.Add(s, "%s", conn.Explain(err))
	return s
}
