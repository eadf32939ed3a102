package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
)

// RangeFlag registers a threshold option holding a range, with def as its
// default ("" for none), and returns its value.
func RangeFlag(fs *pflag.FlagSet, name, short, def, usage string) *RangeValue {
	v := NewRangeValue(def)
	fs.VarP(v, name, short, usage)
	return v
}

const rangeHelp = `Thresholds are monitoring-plugins ranges, [@]start:end, inclusive:
  10      alert when the value is below 0 or above 10
  10:     alert when below 10            ~:10   alert when above 10
  10:20   alert outside 10..20           @10:20 alert inside 10..20
Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for --help,
--version, bad options and timeouts). A target that is down is CRITICAL.
`

func helpText(spec Spec, fs *pflag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (labfleet) %s - %s\n\n", spec.Name, Version, spec.Summary)
	fmt.Fprintf(&b, "Usage: %s %s\n\n", spec.Name, spec.Usage)
	if spec.Help != "" {
		b.WriteString(strings.TrimSpace(spec.Help) + "\n\n")
	}
	b.WriteString("Options:\n")
	b.WriteString(fs.FlagUsagesWrapped(100))
	b.WriteString("\n" + rangeHelp)
	return b.String()
}

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

// Options returns the connection options for the agent at addr.
func (a *AgentTLS) Options(addr string) agentclient.Options {
	return agentclient.Options{Addr: addr, CAFile: a.CAFile, CertFile: a.CertFile, KeyFile: a.KeyFile,
		TokenFile: a.TokenFile, Insecure: a.Insecure}
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
func DialAgent(o agentclient.Options) (*agentclient.Conn, error) {
	c, err := agentclient.Dial(o)
	if errors.Is(err, agentclient.ErrOptions) {
		return nil, Usagef("%s", flagNames.Replace(strings.TrimPrefix(err.Error(), agentclient.ErrOptions.Error()+": ")))
	}
	return c, err
}

// flagNames rewrites agentclient's hints, written for labcontroller's
// --ca, to the plugins' --cacert (the name check_http users know).
var flagNames = strings.NewReplacer("--ca ", "--cacert ", "--ca)", "--cacert)")

// DescribeAgentError is agentclient.Describe with the plugins' flag names.
func DescribeAgentError(addr string, err error) string {
	return flagNames.Replace(agentclient.Describe(addr, err))
}

// AgentFailure records a failed agent call on r: CRITICAL (the agent is
// down, unreachable, refuses us or failed) except for the codes that mean
// our request was wrong, which are UNKNOWN. A call that ran out of time is
// left to the runtime's timeout report. It returns the state recorded.
func AgentFailure(ctx context.Context, r *Result, addr string, err error) Status {
	if ctx.Err() != nil {
		return UNKNOWN
	}
	s := CRITICAL
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unimplemented:
		s = UNKNOWN
	}
	r.Add(s, "%s", DescribeAgentError(addr, err))
	return s
}
