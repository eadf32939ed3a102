package labtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/haproxy"
)

// HAProxyOptions tunes StartHAProxy.
type HAProxyOptions struct {
	Backend   string          // backend name; default "app"
	Servers   []HAProxyServer // at least one
	CheckPath string          // health check path; default /healthz
	// Inter is the health check interval; default 500ms, so tests see a
	// server go down or come up within a second or two.
	Inter      time.Duration
	Rise, Fall int // checks to come up and to go down; default 2 and 2
}

// HAProxyServer is one server line of the test backend.
type HAProxyServer struct {
	Name   string
	Addr   string // host:port
	Backup bool
	// Extra is appended to the server line, e.g. an agent-check.
	Extra string
}

// HAProxy is an haproxy process started for a test.
type HAProxy struct {
	Frontend string // host:port clients use
	Admin    string // path of the unix admin socket (level admin)
	AdminTCP string // host:port of the same admin socket over TCP
	Backend  string
	Dir      string // config and sockets

	cmd      *exec.Cmd
	log      *syncBuffer
	exited   chan struct{}
	exitErr  error
	stopOnce sync.Once
}

// StartHAProxy writes a config for one frontend on a fresh loopback
// address in front of o.Servers, checks it with `haproxy -c`, runs haproxy
// in the foreground and waits until the frontend accepts connections, both
// admin sockets answer and every checked server has had its first health
// check (so each is UP or DOWN, not yet unknown). haproxy is stopped when
// the test ends; its output is printed if the test failed.
func StartHAProxy(t testing.TB, o HAProxyOptions) *HAProxy {
	t.Helper()
	RequireReal(t, "HAProxy")
	if o.Backend == "" {
		o.Backend = "app"
	}
	if o.CheckPath == "" {
		o.CheckPath = "/healthz"
	}
	if o.Inter <= 0 {
		o.Inter = 500 * time.Millisecond
	}
	if o.Rise <= 0 {
		o.Rise = 2
	}
	if o.Fall <= 0 {
		o.Fall = 2
	}
	if len(o.Servers) == 0 {
		t.Fatal("labtest.StartHAProxy: no servers")
	}
	bin := Tool(t, "haproxy")
	ip := LoopbackIP()
	h := &HAProxy{
		Frontend: FreeAddr(t, ip),
		AdminTCP: FreeAddr(t, ip),
		Backend:  o.Backend,
		Dir:      t.TempDir(),
		log:      &syncBuffer{},
		exited:   make(chan struct{}),
	}
	h.Admin = socketPath(t, h.Dir, "admin.sock")
	cfg := filepath.Join(h.Dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(h.config(o)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c -f %s: %v\n%s\nconfig:\n%s", cfg, err, out, h.config(o))
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

// config renders haproxy.cfg.
func (h *HAProxy) config(o HAProxyOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    stats socket %s mode 600 level admin
    stats socket ipv4@%s level admin
    # HAProxy 2.6 writes the pidfile only in daemon or master-worker mode;
    # the test runs it in the foreground (-db) and knows the PID anyway.
    pidfile %s
    # Only failed requests are logged (dontlog-normal; dontlognull keeps
    # StartHAProxy's connect-only readiness probes out), to stdout, which
    # the test prints when it fails.
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    option dontlognull
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    # Zero failed requests while a server is drained and its container
    # replaced (stop-first). Measured with HAProxy 2.6 under 400 req/s:
    # - retries 3 + redispatch 1 matter most. A connection refused (a
    #   container stopped before the health checks noticed, or stopped
    #   without a drain) is retried at once on another server. Stopping
    #   and restarting servers without a drain failed 8%% of requests with
    #   503 without retries, none with them; without redispatch, each retry
    #   waits HAProxy's 1 s turn-around on the same server instead. Only
    #   connection failures are retried (the retry-on default): a request
    #   an app has started on is never replayed, since apps need not be
    #   idempotent.
    # - http-server-close: a new server connection per request, so no idle
    #   pooled connection can point at a container that is stopping or
    #   gone. HAProxy 2.6 copes with idle connections a server closes (no
    #   failure with the default http-keep-alive either, even with a 2 ms
    #   app idle timeout), so this is margin, for one extra connect per
    #   request over loopback or the LAN. Clients keep their keep-alive
    #   connections to HAProxy.
    retries 3
    option redispatch 1
    option http-server-close

frontend fe
    bind %s
    default_backend %s

backend %s
    balance roundrobin
    option httpchk GET %s
    http-check expect status 200
    default-server inter %dms rise %d fall %d
`, h.Admin, h.AdminTCP, filepath.Join(h.Dir, "haproxy.pid"), h.Frontend, o.Backend, o.Backend,
		o.CheckPath, o.Inter.Milliseconds(), o.Rise, o.Fall)
	for _, s := range o.Servers {
		fmt.Fprintf(&b, "    server %s %s check", s.Name, s.Addr)
		if s.Backup {
			b.WriteString(" backup")
		}
		if s.Extra != "" {
			b.WriteString(" " + s.Extra)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// socketPath returns dir/name, or the name in a short temp dir when the
// path would pass the 107 bytes a unix socket path may have (t.TempDir
// holds the test name, which can be long).
func socketPath(t testing.TB, dir, name string) string {
	p := filepath.Join(dir, name)
	if len(p) < 100 {
		return p
	}
	short, err := os.MkdirTemp("", "labhx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	return filepath.Join(short, name)
}

// waitReady waits up to 20 s for the frontend, both admin sockets and the
// first health check of every server.
func (h *HAProxy) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	why := "not started"
	for {
		if why = h.notReady(); why == "" {
			return
		}
		select {
		case <-h.exited:
			t.Fatalf("haproxy exited at start (%v):\n%s", h.exitErr, h.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy not ready within 20s: %s\n%s", why, h.Log())
		}
	}
}

// notReady returns why haproxy is not ready yet, or "".
func (h *HAProxy) notReady() string {
	c, err := net.DialTimeout("tcp", h.Frontend, time.Second)
	if err != nil {
		return fmt.Sprintf("frontend %s: %v", h.Frontend, err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := haproxy.New(h.AdminTCP).Servers(ctx, h.Backend); err != nil {
		return err.Error()
	}
	servers, err := h.Client().Servers(ctx, h.Backend)
	if err != nil {
		return err.Error()
	}
	for _, s := range servers {
		if s.CheckRise > 0 && (s.CheckStatus == "" || s.CheckStatus == "INI") {
			return fmt.Sprintf("server %s/%s not checked yet (status %q)", s.Backend, s.Name, s.Status)
		}
	}
	return ""
}

// Client returns a runtime API client for the unix admin socket.
func (h *HAProxy) Client() *haproxy.Client { return haproxy.New(h.Admin) }

// URL returns "http://" + Frontend + path.
func (h *HAProxy) URL(path string) string { return "http://" + h.Frontend + path }

// Log returns what haproxy has written so far: warnings, server state
// changes and failed requests.
func (h *HAProxy) Log() string { return h.log.String() }

// Stop sends SIGTERM and waits (up to 10 s, then SIGKILL). HAProxy stops
// at once on SIGTERM, closing open connections.
func (h *HAProxy) Stop() {
	h.stopOnce.Do(func() {
		terminate(h.cmd.Process, h.exited, 10*time.Second)
	})
}

// HAProxyClientFor is a runtime API client for any admin socket, e.g. the
// one `make lab` starts.
func HAProxyClientFor(addr string) *haproxy.Client { return haproxy.New(addr) }
