package labtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/pki"
)

// Mode is how a test agent secures its API.
type Mode int

// Agent security modes.
const (
	Insecure Mode = iota // plaintext on loopback
	MTLS                 // client certificates required
	Token                // bearer token over server-only TLS
)

// Agent is a labagent process started for a test.
type Agent struct {
	Name     string
	Addr     string
	Dir      string // state dir and TLS files
	Certs    string // directory from pki.Init, for MTLS and Token modes
	Token    string // path of the token file, for Token mode
	Cmd      *exec.Cmd
	log      *syncBuffer
	exited   chan struct{}
	exitErr  error
	stopOnce sync.Once
}

// AgentOptions tunes StartAgent.
type AgentOptions struct {
	Name  string
	Mode  Mode
	Args  []string // extra flags
	Env   []string
	Certs string // reuse a certs dir (made by Certs) instead of making one
	IP    string // listen on this loopback address (default: a fresh one)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Certs makes a CA, a server certificate per host name (all valid for ip)
// and a "labcontroller" client certificate in a temp dir.
func Certs(t testing.TB, ip string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	var hosts []pki.Host
	for _, n := range names {
		hosts = append(hosts, pki.Host{Name: n, Addrs: []string{ip}})
	}
	if _, err := pki.Init(pki.Options{Dir: dir, Hosts: hosts}); err != nil {
		t.Fatalf("pki.Init: %v", err)
	}
	return dir
}

// StartAgent starts labagent on a fresh loopback address and waits until it
// listens. The agent is stopped with SIGTERM at the end of the test.
func StartAgent(t testing.TB, o AgentOptions) *Agent {
	t.Helper()
	RequireReal(t, "labagent built for the test")
	if o.Name == "" {
		o.Name = "node1"
	}
	ip := o.IP
	if ip == "" {
		ip = LoopbackIP()
	}
	a := &Agent{Name: o.Name, Addr: FreeAddr(t, ip), Dir: t.TempDir(), log: &syncBuffer{}, exited: make(chan struct{})}
	args := []string{"--listen", a.Addr, "--node-name", o.Name, "--state-dir", filepath.Join(a.Dir, "state")}
	switch o.Mode {
	case Insecure:
		args = append(args, "--insecure")
	case MTLS, Token:
		a.Certs = o.Certs
		if a.Certs == "" {
			a.Certs = Certs(t, ip, o.Name)
		}
		args = append(args, "--tls-cert", filepath.Join(a.Certs, o.Name+".crt"), "--tls-key", filepath.Join(a.Certs, o.Name+".key"))
		if o.Mode == MTLS {
			args = append(args, "--tls-client-ca", filepath.Join(a.Certs, "ca.crt"))
		} else {
			a.Token = filepath.Join(a.Dir, "token")
			if err := os.WriteFile(a.Token, []byte("s3cret-token-0123456789abcdef\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--token-file", a.Token)
		}
	}
	args = append(args, o.Args...)
	a.Cmd = exec.Command(Binary(t, "labagent"), args...)
	a.Cmd.Env = append(os.Environ(), o.Env...)
	a.Cmd.Stdout, a.Cmd.Stderr = a.log, a.log
	if err := a.Cmd.Start(); err != nil {
		t.Fatalf("start labagent: %v", err)
	}
	go func() { a.exitErr = a.Cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			t.Logf("labagent %s log:\n%s", a.Name, a.Log())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(a.Log(), "agent listening") {
		select {
		case <-a.exited:
			t.Fatalf("labagent exited at start (%v):\n%s", a.exitErr, a.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("labagent did not start listening within 20s:\n%s", a.Log())
		}
	}
	return a
}

// Log returns what the agent has written so far.
func (a *Agent) Log() string { return a.log.String() }

// Stop sends SIGTERM and waits (up to 30s, then SIGKILL).
func (a *Agent) Stop() {
	a.stopOnce.Do(func() {
		terminate(a.Cmd.Process, a.exited, 30*time.Second)
	})
}

// Wait waits for the agent to exit and returns its exit error.
func (a *Agent) Wait(ctx context.Context) error {
	select {
	case <-a.exited:
		return a.exitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exited reports whether the process has ended.
func (a *Agent) Exited() bool {
	select {
	case <-a.exited:
		return true
	default:
		return false
	}
}
