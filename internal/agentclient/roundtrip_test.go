package agentclient_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

const callTimeout = 5 * time.Second

// callError checks that err is a *CallError for addr with code and returns
// its message.
func callError(t *testing.T, err error, addr string, code codes.Code) string {
	t.Helper()
	var ce *agentclient.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %T %v, want *CallError", err, err)
	}
	if ce.Addr != addr {
		t.Errorf("CallError.Addr = %q, want %q", ce.Addr, addr)
	}
	if status.Code(err) != code {
		t.Errorf("status.Code = %v, want %v (%v)", status.Code(err), code, err)
	}
	return err.Error()
}

func TestRoundTrip_InsecureLoopback(t *testing.T) {
	a := startAgent(t, &fakeAgent{node: "node1"})
	r, err := getInfo(dial(t, agentclient.Options{Addr: a, Insecure: true}), callTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetNodeName() != "node1" || r.GetCaller() != "plaintext" {
		t.Errorf("GetInfo = node %q caller %q, want node1 over plaintext", r.GetNodeName(), r.GetCaller())
	}
}

func TestRoundTrip_TLSWithCA(t *testing.T) {
	certs := makeCerts(t)
	a := startAgent(t, &fakeAgent{node: "node1"}, serverTLS(t, certs, ""))
	c := dial(t, agentclient.Options{Addr: a, CAFile: filepath.Join(certs, "ca.crt")})
	r, err := getInfo(c, callTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetNodeName() != "node1" || r.GetCaller() != "tls" {
		t.Errorf("GetInfo = node %q caller %q, want node1 over TLS without a client certificate", r.GetNodeName(), r.GetCaller())
	}
}

func TestRoundTrip_MutualTLS(t *testing.T) {
	certs := makeCerts(t)
	a := startAgent(t, &fakeAgent{node: "node1"}, serverTLS(t, certs, certs))
	c := dial(t, agentclient.Options{Addr: a, CAFile: filepath.Join(certs, "ca.crt"),
		CertFile: filepath.Join(certs, "labcontroller.crt"), KeyFile: filepath.Join(certs, "labcontroller.key")})
	r, err := getInfo(c, callTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetCaller() != "cert:labcontroller" {
		t.Errorf("agent saw caller %q, want cert:labcontroller", r.GetCaller())
	}
}

// A ServerName naming the node (a DNS SAN) verifies when the address is
// one the certificate does not list.
func TestRoundTrip_ServerNameOverride(t *testing.T) {
	certs := makeCerts(t)
	a := startAgent(t, &fakeAgent{node: "node1"}, serverTLS(t, certs, ""))
	c := dial(t, agentclient.Options{Addr: strings.Replace(a, "127.0.0.1", "localhost", 1), ServerName: "node1", CAFile: filepath.Join(certs, "ca.crt")})
	if _, err := getInfo(c, callTimeout); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip_WrongCAIsExplained(t *testing.T) {
	certs, other := makeCerts(t), makeCerts(t)
	a := startAgent(t, &fakeAgent{node: "node1"}, serverTLS(t, certs, ""))
	c := dial(t, agentclient.Options{Addr: a, CAFile: filepath.Join(other, "ca.crt"), Spelling: agentclient.Spelling{CA: "--cacert"}})
	_, err := getInfo(c, callTimeout)
	msg := callError(t, err, a, codes.Unavailable)
	wantAll(t, msg, "cannot reach agent at "+a, "certificate signed by unknown authority", "(check --cacert and the agent's certificate")
}

// The agent rejects a client certificate from another CA after the
// client's side of a TLS 1.3 handshake is done, so the client sees the
// transport fail: "write: broken pipe" most often, sometimes "connection
// reset" or "EOF", sometimes the agent's alert "remote error: tls: unknown
// certificate authority". Whatever the timing, the message says to check
// the client certificate against the agent's client CA (several calls, so
// more than one of those shows up).
func TestRoundTrip_ClientCertFromAnotherCAIsExplained(t *testing.T) {
	certs, other := makeCerts(t), makeCerts(t)
	a := startAgent(t, &fakeAgent{node: "node1"}, serverTLS(t, certs, certs))
	for range 5 {
		c := dial(t, agentclient.Options{Addr: a, CAFile: filepath.Join(certs, "ca.crt"),
			CertFile: filepath.Join(other, "labcontroller.crt"), KeyFile: filepath.Join(other, "labcontroller.key"), Spelling: agentclient.Spelling{CA: "--cacert"}})
		_, err := getInfo(c, callTimeout)
		msg := callError(t, err, a, codes.Unavailable)
		if !strings.HasPrefix(msg, "cannot reach agent at "+a+": ") || strings.Contains(msg, "connection error: desc") {
			t.Errorf("message %q does not name the agent in one sentence", msg)
		}
		wantAll(t, msg, "check --cert/--key against the CA the agent trusts for clients (its --tls-client-ca)")
		if strings.Contains(msg, "check --cacert") {
			t.Errorf("message %q blames the agent's certificate", msg)
		}
	}
}

func TestRoundTrip_TLSToPlaintextAgentIsExplained(t *testing.T) {
	certs := makeCerts(t)
	a := startAgent(t, &fakeAgent{node: "node1"})
	c := dial(t, agentclient.Options{Addr: a, CAFile: filepath.Join(certs, "ca.crt")})
	_, err := getInfo(c, callTimeout)
	msg := callError(t, err, a, codes.Unavailable)
	wantAll(t, msg, "cannot reach agent at "+a)
	if !strings.Contains(msg, "plaintext") {
		t.Errorf("message %q does not suggest the agent serves plaintext", msg)
	}
}

func TestRoundTrip_ConnectionRefusedIsExplained(t *testing.T) {
	a := closedAddr(t)
	_, err := getInfo(dial(t, agentclient.Options{Addr: a, Insecure: true}), callTimeout)
	msg := callError(t, err, a, codes.Unavailable)
	wantAll(t, msg, "cannot reach agent at "+a+": ", "connection refused", "(is labagent running and listening there?)")
	if strings.Contains(msg, "connection error: desc") || strings.Contains(msg, "transport: ") {
		t.Errorf("message %q keeps gRPC's prefixes", msg)
	}
}

// A call made without a deadline gets the connection's CallDeadline, so a
// hung agent cannot hold its caller forever.
func TestRoundTrip_CallWithoutDeadlineGetsOne(t *testing.T) {
	a := startAgent(t, &fakeAgent{node: "node1", block: true})
	c := dial(t, agentclient.Options{Addr: a, Insecure: true, CallDeadline: 200 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := c.Agent.GetInfo(context.Background(), &agentv1.GetInfoRequest{})
		done <- c.Explain(err)
	}()
	select {
	case err := <-done:
		msg := callError(t, err, a, codes.DeadlineExceeded)
		wantAll(t, msg, "did not answer in time")
	case <-time.After(10 * time.Second):
		t.Fatal("a call without a deadline to a hung agent is still waiting after 10s")
	}
	// A caller's own deadline, longer or shorter, stands.
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := c.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
	if status.Code(err) != codes.DeadlineExceeded || time.Since(t0) < 500*time.Millisecond {
		t.Errorf("a call with its own 600ms deadline ended after %s: %v", time.Since(t0), err)
	}
}

func TestRoundTrip_DeadlineIsExplained(t *testing.T) {
	a := startAgent(t, &fakeAgent{node: "node1", block: true})
	_, err := getInfo(dial(t, agentclient.Options{Addr: a, Insecure: true}), 100*time.Millisecond)
	msg := callError(t, err, a, codes.DeadlineExceeded)
	wantAll(t, msg, "agent at "+a+" did not answer in time")
}

func TestRoundTrip_BearerToken(t *testing.T) {
	const token = "0123456789abcdef-token"
	check := &tokenCheck{token: token}
	certs := makeCerts(t)
	plain := startAgent(t, &fakeAgent{node: "node1"}, grpc.UnaryInterceptor(check.unary))
	tlsAgent := startAgent(t, &fakeAgent{node: "node2"}, grpc.UnaryInterceptor(check.unary), serverTLS(t, certs, ""))
	good := writeFile(t, "token", token+"\n")
	bad := writeFile(t, "token", "not-the-token")

	t.Run("loopback plaintext", func(t *testing.T) {
		if _, err := getInfo(dial(t, agentclient.Options{Addr: plain, Insecure: true, TokenFile: good}), callTimeout); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		c := dial(t, agentclient.Options{Addr: tlsAgent, CAFile: filepath.Join(certs, "ca.crt"), TokenFile: good})
		if _, err := getInfo(c, callTimeout); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		_, err := getInfo(dial(t, agentclient.Options{Addr: plain, Insecure: true, TokenFile: bad}), callTimeout)
		msg := callError(t, err, plain, codes.Unauthenticated)
		if msg != "agent at "+plain+" refused our credentials: invalid bearer token" {
			t.Errorf("message = %q", msg)
		}
	})
	t.Run("no token", func(t *testing.T) {
		_, err := getInfo(dial(t, agentclient.Options{Addr: plain, Insecure: true}), callTimeout)
		callError(t, err, plain, codes.Unauthenticated)
	})
	want := []string{"Bearer " + token, "Bearer " + token, "Bearer not-the-token"}
	if got := check.headers(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("agents saw authorization headers %q, want %q (the trailing newline trimmed, one per call)", got, want)
	}
}
