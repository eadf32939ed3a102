package agentclient_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
)

const addr = "127.0.0.11:7443"

func TestExplain_NilStaysNil(t *testing.T) {
	if err := agentclient.Explain(addr, agentclient.Spelling{}, nil); err != nil {
		t.Errorf("Explain(nil) = %v", err)
	}
}

func TestExplain_ErrorsWithoutStatusPassThrough(t *testing.T) {
	_, optErr := agentclient.Dial(agentclient.Options{Addr: "192.0.2.1:7443", Insecure: true})
	for _, err := range []error{errors.New("stream closed"), optErr, context.Canceled, fmt.Errorf("reading: %w", errors.New("eof"))} {
		if got := agentclient.Explain(addr, agentclient.Spelling{}, err); got != err {
			t.Errorf("Explain(%v) = %v (%T), want the same error back", err, got, got)
		}
	}
}

func TestExplain_StatusErrorsBecomeCallErrors(t *testing.T) {
	const refused = `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.11:7443: connect: connection refused"`
	tests := []struct {
		name string
		sp   agentclient.Spelling
		in   error
		want string
	}{
		{"refused", agentclient.Spelling{}, status.Error(codes.Unavailable, refused),
			"cannot reach agent at 127.0.0.11:7443: dial tcp 127.0.0.11:7443: connect: connection refused (is labagent running and listening there?)"},
		{"unknown CA", agentclient.Spelling{},
			status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`),
			"cannot reach agent at 127.0.0.11:7443: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority" +
				" (check --ca and the agent's certificate; labcontroller certs init makes a matching set)"},
		{"unknown CA, plugin spelling", agentclient.Spelling{CA: "--cacert"},
			status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate is valid for 127.0.0.12, not 127.0.0.11"`),
			"cannot reach agent at 127.0.0.11:7443: authentication handshake failed: tls: failed to verify certificate: x509: certificate is valid for 127.0.0.12, not 127.0.0.11" +
				" (check --cacert and the agent's certificate; labcontroller certs init makes a matching set)"},
		{"plaintext agent", agentclient.Spelling{},
			status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"`),
			"cannot reach agent at 127.0.0.11:7443: authentication handshake failed: tls: first record does not look like a TLS handshake (the agent serves plaintext: it was started with --insecure)"},
		{"handshake EOF", agentclient.Spelling{},
			status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: EOF"`),
			"cannot reach agent at 127.0.0.11:7443: error reading server preface: EOF (TLS handshake failed: does the agent need a client certificate, or does it serve plaintext?)"},
		{"deadline", agentclient.Spelling{}, status.Error(codes.DeadlineExceeded, "context deadline exceeded"),
			"agent at 127.0.0.11:7443 did not answer in time: context deadline exceeded"},
		{"unauthenticated", agentclient.Spelling{}, status.Error(codes.Unauthenticated, "invalid bearer token"),
			"agent at 127.0.0.11:7443 refused our credentials: invalid bearer token"},
		{"not found", agentclient.Spelling{}, status.Error(codes.NotFound, `not found: no app "todo" on node node1`),
			`agent at 127.0.0.11:7443: NotFound: not found: no app "todo" on node node1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := agentclient.Explain(addr, tt.sp, tt.in)
			var ce *agentclient.CallError
			if !errors.As(got, &ce) {
				t.Fatalf("Explain = %T %v, want *CallError", got, got)
			}
			if got.Error() != tt.want {
				t.Errorf("message\n got: %s\nwant: %s", got, tt.want)
			}
			if ce.Addr != addr {
				t.Errorf("Addr = %q", ce.Addr)
			}
			if status.Code(got) != status.Code(tt.in) {
				t.Errorf("status.Code = %v, want %v", status.Code(got), status.Code(tt.in))
			}
			if st, ok := status.FromError(got); !ok || st.Message() != status.Convert(tt.in).Message() {
				t.Errorf("status.FromError = %v, %v; want the call's own status", st, ok)
			}
			if !errors.Is(got, tt.in) || errors.Unwrap(got) != tt.in {
				t.Errorf("the original error is not reachable through Unwrap")
			}
		})
	}
}

func TestExplain_SentinelUnderStatusStillMatches(t *testing.T) {
	sentinel := errors.New("app is locked")
	orig := fmt.Errorf("deploy: %w", &statusWrapper{code: codes.Aborted, err: sentinel})
	got := agentclient.Explain(addr, agentclient.Spelling{}, orig)
	if !errors.Is(got, sentinel) {
		t.Errorf("errors.Is(Explain(err), sentinel) = false for %v", got)
	}
	if status.Code(got) != codes.Aborted {
		t.Errorf("code = %v, want Aborted", status.Code(got))
	}
}

// statusWrapper is an error carrying both a gRPC status and a cause, as a
// domain error mapped in-process would.
type statusWrapper struct {
	code codes.Code
	err  error
}

func (s *statusWrapper) Error() string              { return s.err.Error() }
func (s *statusWrapper) Unwrap() error              { return s.err }
func (s *statusWrapper) GRPCStatus() *status.Status { return status.New(s.code, s.err.Error()) }

func TestExplain_DoesNotWrapTwice(t *testing.T) {
	orig := status.Error(codes.Unavailable, "connection refused")
	once := agentclient.Explain(addr, agentclient.Spelling{}, orig)
	twice := agentclient.Explain("127.0.0.99:7443", agentclient.Spelling{CA: "--cacert"}, once)
	if twice != once {
		t.Errorf("second Explain = %v, want the first CallError back unchanged", twice)
	}
	wrapped := fmt.Errorf("node1: %w", once)
	if got := agentclient.Explain("127.0.0.99:7443", agentclient.Spelling{}, wrapped); got != wrapped {
		t.Errorf("Explain of a wrapped CallError = %v, want it unchanged", got)
	}
	if n := strings.Count(twice.Error(), "agent at"); n != 1 {
		t.Errorf("message %q names an agent %d times", twice, n)
	}
	if strings.Contains(twice.Error(), "127.0.0.99") {
		t.Errorf("message %q names the second address", twice)
	}
}

// A connection that presents a client certificate knows that a handshake
// the agent breaks off most likely refused it, and says which files to
// check; one without says the agent may need one.
func TestConnExplain_RefusedClientCertificate(t *testing.T) {
	certs := makeCerts(t)
	withCert := dial(t, agentclient.Options{Addr: addr, CAFile: filepath.Join(certs, "ca.crt"),
		CertFile: filepath.Join(certs, "labcontroller.crt"), KeyFile: filepath.Join(certs, "labcontroller.key"), Spelling: agentclient.Spelling{CA: "--cacert"}})
	withoutCert := dial(t, agentclient.Options{Addr: addr, CAFile: filepath.Join(certs, "ca.crt")})
	const refused = " (the agent closed the connection during the TLS handshake, which is how it refuses a client certificate: " +
		"check --cert/--key against the CA the agent trusts for clients (its --tls-client-ca); labcontroller certs init makes a matching set)"
	tests := []struct {
		name string
		c    *agentclient.Conn
		in   string
		want string
	}{
		{"broken pipe", withCert, `connection error: desc = "transport: write tcp 127.0.0.1:41660->127.0.0.11:7443: write: broken pipe"`,
			"cannot reach agent at 127.0.0.11:7443: write tcp 127.0.0.1:41660->127.0.0.11:7443: write: broken pipe" + refused},
		{"reset", withCert, `connection error: desc = "transport: read tcp 127.0.0.1:41660->127.0.0.11:7443: read: connection reset by peer"`,
			"cannot reach agent at 127.0.0.11:7443: read tcp 127.0.0.1:41660->127.0.0.11:7443: read: connection reset by peer" + refused},
		{"EOF", withCert, `connection error: desc = "error reading server preface: EOF"`,
			"cannot reach agent at 127.0.0.11:7443: error reading server preface: EOF" + refused},
		{"alert", withCert, `connection error: desc = "error reading server preface: remote error: tls: unknown certificate authority"`,
			"cannot reach agent at 127.0.0.11:7443: error reading server preface: remote error: tls: unknown certificate authority" +
				" (the agent refused our client certificate: check --cert/--key against the CA the agent trusts for clients (its --tls-client-ca); labcontroller certs init makes a matching set)"},
		{"certificate required", withoutCert, `connection error: desc = "error reading server preface: remote error: tls: certificate required"`,
			"cannot reach agent at 127.0.0.11:7443: error reading server preface: remote error: tls: certificate required (the agent requires a client certificate: give --cert and --key)"},
		{"no cert, broken pipe", withoutCert, `connection error: desc = "transport: write: broken pipe"`,
			"cannot reach agent at 127.0.0.11:7443: write: broken pipe (the agent closed the connection during the TLS handshake: does it need a client certificate, or does it serve plaintext?)"},
		{"no cert, EOF", withoutCert, `connection error: desc = "error reading server preface: EOF"`,
			"cannot reach agent at 127.0.0.11:7443: error reading server preface: EOF (TLS handshake failed: does the agent need a client certificate, or does it serve plaintext?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Explain(status.Error(codes.Unavailable, tt.in)).Error(); got != tt.want {
				t.Errorf("message\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
	// Without the connection, Explain cannot know, and says both.
	got := agentclient.Explain(addr, agentclient.Spelling{}, status.Error(codes.Unavailable, "transport: write: broken pipe")).Error()
	wantAll(t, got, "if a client certificate was given, check --cert/--key against", "its --tls-client-ca")
}
