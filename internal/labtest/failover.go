package labtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Crashes and restarts, for failover tests: a node that dies does not shut
// down cleanly, and comes back on the same addresses, data and state.

// Kill sends SIGKILL to mariadbd and waits for it to exit, as a crash
// would leave it: no shutdown, nothing flushed beyond what each commit
// wrote. Start (or StartWith) brings it back on the same data dir. It
// does nothing when the server is not running.
func (m *MariaDB) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	if p == nil || p.done() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// StartWith is Start with extra mariadbd flags for this run only, e.g.
// "--skip-slave-start", or the my.cnf lines `replication setup` prints
// (as --gtid-domain-id=1 ...), which SET GLOBAL values need to survive a
// restart.
func (m *MariaDB) StartWith(t testing.TB, extra ...string) {
	t.Helper()
	base := m.args
	m.args = append(slices.Clip(base), extra...)
	defer func() { m.args = base }()
	m.start(t, m.RootPassword)
}

// Kill sends SIGKILL to the agent and waits for it to exit: no graceful
// shutdown, deploy state left as it was on disk. The test's cleanup then
// has nothing left to stop. Restart starts it again.
func (a *Agent) Kill() {
	a.stopOnce.Do(func() {
		_ = a.Cmd.Process.Kill()
		<-a.exited
	})
}

// Restart starts a new labagent process with the same flags, environment,
// address and state dir as a, which must have exited (Kill or Stop), and
// waits until it listens. The new process is stopped when the test ends.
func (a *Agent) Restart(t testing.TB) *Agent {
	t.Helper()
	if !a.Exited() {
		t.Fatalf("labagent %s is still running: Kill or Stop it before Restart", a.Name)
	}
	n := &Agent{Name: a.Name, Addr: a.Addr, Dir: a.Dir, Certs: a.Certs, Token: a.Token, log: &syncBuffer{}, exited: make(chan struct{})}
	n.Cmd = exec.Command(a.Cmd.Path, a.Cmd.Args[1:]...)
	n.Cmd.Env = a.Cmd.Env
	n.Cmd.Stdout, n.Cmd.Stderr = n.log, n.log
	if err := n.Cmd.Start(); err != nil {
		t.Fatalf("restart labagent %s: %v", a.Name, err)
	}
	go func() { n.exitErr = n.Cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("labagent %s (restarted) log:\n%s", n.Name, n.Log())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(n.Log(), "agent listening") {
		select {
		case <-n.exited:
			t.Fatalf("restarted labagent %s exited at start (%v):\n%s", n.Name, n.exitErr, n.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted labagent %s did not listen within 20s:\n%s", n.Name, n.Log())
		}
	}
	return n
}

// HAProxyConfig is a whole HAProxy setup for StartHAProxyConfig, for tests
// that compare configurations rather than use labtest's own.
type HAProxyConfig struct {
	// Defaults are the lines of the defaults section, e.g. scripts/lab.sh's
	// timeouts, retries and redispatch; "mode http" is always set.
	Defaults []string
	// Backend is a whole backend block, as `labcontroller haproxy config`
	// prints it; its name is read from its first line.
	Backend string
}

// StartHAProxyConfig runs HAProxy with c's defaults and backend behind one
// frontend on a fresh loopback address, with the same admin sockets,
// readiness wait and cleanup as StartHAProxy.
func StartHAProxyConfig(t testing.TB, c HAProxyConfig) *HAProxy {
	t.Helper()
	RequireReal(t, "HAProxy")
	first := strings.Fields(c.Backend)
	if len(first) < 2 || first[0] != "backend" {
		t.Fatalf("labtest.StartHAProxyConfig: Backend must start with \"backend NAME\":\n%s", c.Backend)
	}
	bin := Tool(t, "haproxy")
	ip := LoopbackIP()
	h := &HAProxy{Frontend: FreeAddr(t, ip), AdminTCP: FreeAddr(t, ip), Backend: first[1], Dir: t.TempDir(),
		log: &syncBuffer{}, exited: make(chan struct{})}
	h.Admin = socketPath(t, h.Dir, "admin.sock")
	var b strings.Builder
	fmt.Fprintf(&b, "global\n    stats socket %s mode 600 level admin\n    stats socket ipv4@%s level admin\n    log stdout format raw local0\n\n",
		h.Admin, h.AdminTCP)
	b.WriteString("defaults\n    mode http\n    log global\n    option httplog\n    option dontlog-normal\n    option dontlognull\n")
	for _, l := range c.Defaults {
		b.WriteString("    " + strings.TrimSpace(l) + "\n")
	}
	fmt.Fprintf(&b, "\nfrontend fe\n    bind %s\n    default_backend %s\n\n%s", h.Frontend, h.Backend, c.Backend)
	cfg := filepath.Join(h.Dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c -f %s: %v\n%s\nconfig:\n%s", cfg, err, out, b.String())
	}
	h.cmd = exec.Command(bin, "-f", cfg, "-db")
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	go func() { h.exitErr = h.cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() {
		h.Stop()
		if t.Failed() {
			t.Logf("haproxy %s output:\n%s", h.Frontend, h.Log())
		}
	})
	h.waitReady(t)
	return h
}
