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

// DefaultPort is the agent's default gRPC port.
const DefaultPort = 7443

// ErrOptions marks client options that cannot work; every such error is an
// *OptionError.
var ErrOptions = errors.New("invalid agent connection options")

// Spelling is how one front end writes the connection options, so that an
// error or hint names the option the user can actually pass: --ca for
// labcontroller, --cacert for the Nagios plugins (as check_http), ca: for
// an Ansible task. Empty fields read as labcontroller's flags.
type Spelling struct {
	CA, Cert, Key, Token, Insecure string
}

// controllerSpelling is labcontroller's, which a zero Spelling means; it
// is never changed.
var controllerSpelling = Spelling{CA: "--ca", Cert: "--cert", Key: "--key", Token: "--token-file", Insecure: "--insecure"}

func (s Spelling) withDefaults() Spelling {
	d := controllerSpelling
	for _, f := range []struct {
		dst *string
		v   string
	}{{&d.CA, s.CA}, {&d.Cert, s.Cert}, {&d.Key, s.Key}, {&d.Token, s.Token}, {&d.Insecure, s.Insecure}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	return d
}

// OptionError is a connection option that cannot work. Its message names
// the option in the front end's spelling and says what to do; it carries
// no prefix, so front ends print it as it is.
type OptionError struct{ msg string }

func (e *OptionError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrOptions) true.
func (e *OptionError) Is(target error) bool { return target == ErrOptions }

func optErr(format string, args ...any) error { return &OptionError{msg: fmt.Sprintf(format, args...)} }

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
	// Spelling names these options in errors and hints.
	Spelling Spelling
	// CallDeadline bounds a unary call whose context has no deadline of
	// its own (zero: DefaultCallDeadline), so that no call to an agent can
	// wait forever. Streams are bounded by their callers (see
	// deployreq.ReadWithin).
	CallDeadline time.Duration
}

// DefaultCallDeadline is the deadline of a unary call made without one. It
// is a backstop, long enough for the slowest unary call (a replication
// change waiting for MariaDB); callers set their own, shorter ones.
const DefaultCallDeadline = 5 * time.Minute

// Conn is an open connection to one agent.
type Conn struct {
	*grpc.ClientConn
	Agent agentv1.AgentServiceClient
	addr  string
	sp    Spelling
	// clientCert: we present a client certificate, so a handshake the
	// agent breaks off most likely refused it.
	clientCert bool
}

// Addr is the agent's HOST:PORT.
func (c *Conn) Addr() string { return c.addr }

// Explain turns an error of a call on c into a *CallError that says which
// agent failed and what to do; see Explain. Knowing how c authenticates, it
// can tell a refused client certificate from other broken handshakes.
func (c *Conn) Explain(err error) error {
	return explain(c.addr, c.sp, hints{clientCert: c.clientCert, known: true}, err)
}

// Dial prepares a connection; like grpc.NewClient it connects lazily, so the
// first RPC reports an unreachable agent.
func Dial(o Options) (*Conn, error) {
	sp := o.Spelling.withDefaults()
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, optErr("agent address %q: %v (want HOST:PORT)", o.Addr, err)
	}
	var opts []grpc.DialOption
	if o.Insecure {
		if !isLoopback(host) {
			return nil, optErr("refusing plaintext to %s: %s is only for loopback agents; give %s (and %s/%s or %s)", o.Addr, sp.Insecure, sp.CA, sp.Cert, sp.Key, sp.Token)
		}
		if o.CertFile != "" || o.KeyFile != "" || o.CAFile != "" {
			return nil, optErr("%s with TLS files for %s: drop one", sp.Insecure, o.Addr)
		}
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		tc, err := tlsConfig(o, sp, host)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	if o.TokenFile != "" {
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, optErr("%s: cannot read the token file: %v", sp.Token, err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, optErr("%s: token file %s is empty", sp.Token, o.TokenFile)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: tok, secure: !o.Insecure}))
	}
	deadline := o.CallDeadline
	if deadline <= 0 {
		deadline = DefaultCallDeadline
	}
	opts = append(opts, grpc.WithChainUnaryInterceptor(withDeadline(deadline)))
	cc, err := grpc.NewClient(o.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot set up connection to %s: %w", o.Addr, err)
	}
	return &Conn{ClientConn: cc, Agent: agentv1.NewAgentServiceClient(cc), addr: o.Addr, sp: sp, clientCert: o.CertFile != "" && !o.Insecure}, nil
}

// withDeadline gives a unary call without a deadline the deadline d.
func withDeadline(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

func tlsConfig(o Options, sp Spelling, host string) (*tls.Config, error) {
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
		return nil, optErr("a client certificate needs both %s and %s", sp.Cert, sp.Key)
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

// CallError is a failed call to one agent. Its message says which agent
// and, where it can, what to do; it keeps the call's gRPC status, so
// status.Code(err) and errors.Is on the original error still work.
type CallError struct {
	// Addr is the agent's HOST:PORT.
	Addr string
	st   *status.Status
	err  error
	msg  string
}

func (e *CallError) Error() string { return e.msg }

// Unwrap returns the call's own error.
func (e *CallError) Unwrap() error { return e.err }

// GRPCStatus is the call's status, for status.Code and status.FromError.
func (e *CallError) GRPCStatus() *status.Status { return e.st }

// Explain wraps an error of a call to the agent at addr in a *CallError.
// Errors that carry no gRPC status (a bad option, a closed stream) and
// errors already explained are returned as they are; nil stays nil.
// Conn.Explain says more about a broken TLS handshake.
func Explain(addr string, sp Spelling, err error) error {
	return explain(addr, sp, hints{}, err)
}

// hints are what the caller knows about how it authenticated.
type hints struct {
	// known: clientCert is set from the connection's options.
	known      bool
	clientCert bool
}

func explain(addr string, sp Spelling, h hints, err error) error {
	if err == nil {
		return nil
	}
	var ce *CallError
	if errors.As(err, &ce) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return &CallError{Addr: addr, st: st, err: err, msg: describe(addr, sp.withDefaults(), h, st)}
}

// describe says in one line what went wrong with the agent at addr. gRPC
// puts the transport's own words after fixed prefixes in an Unavailable
// status; they are dropped so the line reads as one sentence.
func describe(addr string, sp Spelling, h hints, st *status.Status) string {
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		for _, p := range []string{"connection error: desc = ", `"`, "transport: ", "Error while dialing: "} {
			msg = strings.TrimPrefix(msg, p)
		}
		msg = strings.TrimSuffix(msg, `"`)
		return fmt.Sprintf("cannot reach agent at %s: %s%s", addr, msg, handshakeHint(msg, sp, h))
	case codes.DeadlineExceeded:
		return fmt.Sprintf("agent at %s did not answer in time: %s", addr, msg)
	case codes.Unauthenticated:
		return fmt.Sprintf("agent at %s refused our credentials: %s", addr, msg)
	case codes.PermissionDenied:
		if !strings.Contains(msg, "role") {
			break // the host policy: its message names the rule and the flag
		}
		// The agent's roles: a monitoring identity (nagios.crt, the
		// monitoring token) may only read.
		return fmt.Sprintf("agent at %s: permission denied: %s (changes need the deploy identity: labcontroller's certificate or the deploy token, given with %s/%s or %s)",
			addr, msg, sp.Cert, sp.Key, sp.Token)
	}
	return fmt.Sprintf("agent at %s: %s: %s", addr, st.Code(), msg)
}

// handshakeHint says what to do about an Unavailable status whose message
// is msg. With TLS 1.3 the agent checks our client certificate only after
// our side of the handshake is done, so a certificate it refuses shows up
// as its alert ("remote error: tls: unknown certificate authority") or, as
// often, as a connection it closed: "broken pipe", "connection reset" or
// "EOF" on the first write or read.
func handshakeHint(msg string, sp Spelling, h hints) string {
	ours := fmt.Sprintf("check %s/%s against the CA the agent trusts for clients (its --tls-client-ca); labcontroller certs init makes a matching set", sp.Cert, sp.Key)
	closed := strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF")
	switch {
	case strings.Contains(msg, "connection refused"):
		return " (is labagent running and listening there?)"
	case strings.Contains(msg, "remote error: tls: certificate required"):
		return fmt.Sprintf(" (the agent requires a client certificate: give %s and %s)", sp.Cert, sp.Key)
	case strings.Contains(msg, "remote error: tls:") && h.known && !h.clientCert:
		return " (the agent refused the TLS handshake; does it need a client certificate? give " + sp.Cert + " and " + sp.Key + ")"
	case strings.Contains(msg, "remote error: tls:"):
		return " (the agent refused our client certificate: " + ours + ")"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return " (the agent serves plaintext: it was started with --insecure)"
	case strings.Contains(msg, "certificate"):
		return " (check " + sp.CA + " and the agent's certificate; labcontroller certs init makes a matching set)"
	case closed && h.clientCert:
		return " (the agent closed the connection during the TLS handshake, which is how it refuses a client certificate: " + ours + ")"
	case strings.Contains(msg, "EOF"), strings.Contains(msg, "handshake"):
		return " (TLS handshake failed: does the agent need a client certificate, or does it serve plaintext?)"
	case closed && !h.known:
		return " (the agent closed the connection during the TLS handshake: if a client certificate was given, " + ours +
			"; otherwise, does the agent need one?)"
	case closed:
		return " (the agent closed the connection during the TLS handshake: does it need a client certificate, or does it serve plaintext?)"
	}
	return ""
}

// CallTimeout is the default deadline for one short RPC.
const CallTimeout = 10 * time.Second
