// Package agentclient dials a labagent with the same security rules the agent
// enforces: TLS (optionally with a client certificate) and/or a bearer token,
// and plaintext only to a loopback address. The controller, the Nagios
// plugins and the Ansible modules all connect through it.
package agentclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/tlsfiles"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// CAFlag is how this program spells the option that names the CA file, for
// hints in errors: labcontroller's --ca; the Nagios plugins set --cacert,
// the name check_http users know.
var CAFlag = "--ca"

// DefaultPort is the agent's default gRPC port.
const DefaultPort = 7443

// ErrOptions marks client options that cannot work.
var ErrOptions = errors.New("invalid agent connection options")

// Options says how to reach and authenticate to one agent.
type Options struct {
	// Addr is HOST:PORT.
	Addr string
	// CAFile verifies the agent's certificate; empty uses the system roots.
	CAFile string
	// CertFile and KeyFile are this client's certificate for mTLS.
	CertFile, KeyFile string
	// TokenFile holds the bearer token to send.
	TokenFile string
	// ServerName overrides the name checked in the agent's certificate
	// (default: the host part of Addr).
	ServerName string
	// Insecure dials plaintext; refused unless Addr is a loopback address.
	Insecure bool
}

// Conn is an open connection to one agent.
type Conn struct {
	*grpc.ClientConn
	Agent agentv1.AgentServiceClient
}

// Dial prepares a connection; like grpc.NewClient it connects lazily, so the
// first RPC reports an unreachable agent.
func Dial(o Options) (*Conn, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: agent address %q: %v (want HOST:PORT)", ErrOptions, o.Addr, err)
	}
	var opts []grpc.DialOption
	if o.Insecure {
		if !isLoopback(host) {
			return nil, fmt.Errorf("%w: refusing plaintext to %s: --insecure is only for loopback agents; give %s (and --cert/--key or --token-file)", ErrOptions, o.Addr, CAFlag)
		}
		if o.CertFile != "" || o.CAFile != "" {
			return nil, fmt.Errorf("%w: --insecure with TLS files for %s: drop one", ErrOptions, o.Addr)
		}
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		tc, err := tlsConfig(o, host)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	if o.TokenFile != "" {
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot read token file: %v", ErrOptions, err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("%w: token file %s is empty", ErrOptions, o.TokenFile)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: tok, secure: !o.Insecure}))
	}
	cc, err := grpc.NewClient(o.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot set up connection to %s: %w", o.Addr, err)
	}
	return &Conn{ClientConn: cc, Agent: agentv1.NewAgentServiceClient(cc)}, nil
}

func tlsConfig(o Options, host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if o.ServerName != "" {
		tc.ServerName = o.ServerName
	}
	if o.CAFile != "" {
		pool, err := tlsfiles.LoadCAPool(o.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, fmt.Errorf("%w: a client certificate needs both --cert and --key", ErrOptions)
	}
	if o.CertFile != "" {
		pair, err := tlsfiles.LoadKeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity keeps the token off the wire in plaintext except
// to a loopback agent.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Describe turns an RPC error into one line that says what went wrong with
// this agent and, where it can, what to do about it.
func Describe(addr string, err error) string {
	if err == nil {
		return ""
	}
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		msg = strings.TrimPrefix(msg, "connection error: desc = ")
		msg = strings.Trim(msg, `"`)
		msg = strings.TrimPrefix(msg, "transport: ")
		msg = strings.TrimPrefix(msg, "Error while dialing: ")
		hint := ""
		switch {
		case strings.Contains(msg, "connection refused"):
			hint = " (is labagent running and listening there?)"
		case strings.Contains(msg, "certificate"):
			hint = " (check " + CAFlag + " and the agent's certificate; labcontroller certs init makes a matching set)"
		case strings.Contains(msg, "first record does not look like a TLS handshake"):
			hint = " (the agent serves plaintext: it was started with --insecure)"
		case strings.Contains(msg, "EOF"), strings.Contains(msg, "handshake"):
			hint = " (TLS handshake failed: does the agent need a client certificate, or does it serve plaintext?)"
		}
		return fmt.Sprintf("cannot reach agent at %s: %s%s", addr, msg, hint)
	case codes.DeadlineExceeded:
		return fmt.Sprintf("agent at %s did not answer in time: %s", addr, msg)
	case codes.Unauthenticated:
		return fmt.Sprintf("agent at %s refused our credentials: %s", addr, msg)
	}
	return fmt.Sprintf("agent at %s: %s: %s", addr, st.Code(), msg)
}

// CallTimeout is the default deadline for one short RPC.
const CallTimeout = 10 * time.Second
