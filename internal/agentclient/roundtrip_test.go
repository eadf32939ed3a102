package agentclient_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
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
// transport fail (today "write: broken pipe", sometimes the agent's alert).
// describe has no hint for that yet (see the report): this checks what
// holds whatever the timing.
func TestRoundTrip_ClientCertFromAnotherCAIsExplained(t *testing.T) {
	certs, other := makeCerts(t), makeCerts(t)
	a := startAgent(t, &fakeAgent{node: "node1"}, serverTLS(t, certs, certs))
	c := dial(t, agentclient.Options{Addr: a, CAFile: filepath.Join(certs, "ca.crt"),
		CertFile: filepath.Join(other, "labcontroller.crt"), KeyFile: filepath.Join(other, "labcontroller.key")})
	_, err := getInfo(c, callTimeout)
	msg := callError(t, err, a, codes.Unavailable)
	if !strings.HasPrefix(msg, "cannot reach agent at "+a+": ") || strings.Contains(msg, "connection error: desc") {
		t.Errorf("message %q does not name the agent in one sentence", msg)
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
