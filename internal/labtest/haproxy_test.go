package labtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/haproxy"
)

// serveBody serves body on / and 200 on /healthz at addr (a fresh loopback
// address when empty) until stop or the end of the test. stop shuts the
// server down gracefully, as the test app does on SIGTERM, and is
// idempotent.
func serveBody(t *testing.T, addr, body string) (string, func()) {
	t.Helper()
	if addr == "" {
		addr = net.JoinHostPort(LoopbackIP(), "0")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("cannot listen on %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	var stopped atomic.Bool
	stop := func() {
		if stopped.Swap(true) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shut down the %s server: %v", body, err)
		}
	}
	t.Cleanup(stop)
	return l.Addr().String(), stop
}

func bg(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// since returns the body counts added between two snapshots.
func since(before, after LoadResult) map[string]int {
	d := map[string]int{}
	for k, n := range after.Bodies {
		if n > before.Bodies[k] {
			d[k] = n - before.Bodies[k]
		}
	}
	return d
}

func TestStartHAProxy_LoadReachesBothThenDrainMovesTrafficAndReadyRestores(t *testing.T) {
	t.Parallel()
	a, _ := serveBody(t, "", "a")
	b, _ := serveBody(t, "", "b")
	h := StartHAProxy(t, HAProxyOptions{Servers: []HAProxyServer{{Name: "node1", Addr: a}, {Name: "node2", Addr: b}}})
	c := haproxy.New(h.Admin)
	ctx := bg(t, time.Minute)

	load := StartLoad(t, LoadOptions{URL: h.URL("/"), Rate: 200})
	time.Sleep(3 * time.Second)
	first := load.Snapshot()
	if first.Failed != 0 || first.Bodies["a"] == 0 || first.Bodies["b"] == 0 || first.Sent < 450 {
		t.Errorf("first 3s at 200 req/s: %s; want ~600 sent, none failed, both a and b", first)
	}

	if err := c.SetState(ctx, "app", "node1", haproxy.StateDrain); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitDrained(ctx, "app", "node1", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	drained := load.Snapshot()
	time.Sleep(time.Second)
	if got := since(drained, load.Snapshot()); got["a"] != 0 || got["b"] == 0 {
		t.Errorf("answers in the second after node1 drained: %v, want only b", got)
	}

	if err := c.SetState(ctx, "app", "node1", haproxy.StateReady); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitUp(ctx, "app", "node1", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ready := load.Snapshot()
	time.Sleep(time.Second)
	res := load.Stop()
	if got := since(ready, res); got["a"] == 0 || got["b"] == 0 {
		t.Errorf("answers in the second after node1 was ready again: %v, want a and b", got)
	}
	if res.Failed != 0 {
		t.Errorf("failed requests: %s", res)
	}
}

// The lab's roll, with in-process servers standing in for the containers:
// per node drain, wait for its sessions to end, stop the old server
// (stop-first), start the new version on the same address, wait for
// HAProxy's checks to find it up, ready. Not one request may fail.
func TestStartHAProxy_StopFirstSwapUnderLoadFailsNothing(t *testing.T) {
	t.Parallel()
	addrs := map[string]string{}
	stops := map[string]func(){}
	for _, n := range []string{"node1", "node2"} {
		addrs[n], stops[n] = serveBody(t, "", "v1")
	}
	h := StartHAProxy(t, HAProxyOptions{Servers: []HAProxyServer{
		{Name: "node1", Addr: addrs["node1"]}, {Name: "node2", Addr: addrs["node2"]},
	}})
	c := haproxy.New(h.AdminTCP)
	ctx := bg(t, time.Minute)

	load := StartLoad(t, LoadOptions{URL: h.URL("/"), Rate: 200})
	time.Sleep(500 * time.Millisecond)
	for _, n := range []string{"node1", "node2"} {
		if err := c.SetState(ctx, "app", n, haproxy.StateDrain); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitDrained(ctx, "app", n, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		stops[n]()
		time.Sleep(300 * time.Millisecond) // the gap a container swap leaves
		serveBody(t, addrs[n], "v2")
		if err := c.WaitUp(ctx, "app", n, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := c.SetState(ctx, "app", n, haproxy.StateReady); err != nil {
			t.Fatal(err)
		}
	}
	rolled := load.Snapshot()
	time.Sleep(time.Second)
	res := load.Stop()
	if res.Failed != 0 {
		t.Errorf("failed requests during the roll: %s", res)
	}
	if res.Bodies["v1"] == 0 || res.Bodies["v2"] == 0 {
		t.Errorf("want both versions to answer during the roll: %s", res)
	}
	if got := since(rolled, res); got["v1"] != 0 || got["v2"] == 0 {
		t.Errorf("answers after the roll: %v, want only v2", got)
	}
}

// The lab runs node2 as `backup`: when the only active server is drained,
// HAProxy 2.6 sends everything to the backup, so a roll of node1 fails
// nothing.
func TestStartHAProxy_BackupTakesOverWhenTheActiveServerDrains(t *testing.T) {
	t.Parallel()
	a, _ := serveBody(t, "", "node1")
	b, _ := serveBody(t, "", "node2")
	h := StartHAProxy(t, HAProxyOptions{Servers: []HAProxyServer{{Name: "node1", Addr: a}, {Name: "node2", Addr: b, Backup: true}}})
	c := haproxy.New(h.Admin)
	ctx := bg(t, time.Minute)

	load := StartLoad(t, LoadOptions{URL: h.URL("/"), Rate: 200})
	time.Sleep(time.Second)
	if got := load.Snapshot(); got.Bodies["node2"] != 0 || got.Bodies["node1"] == 0 {
		t.Errorf("with node1 ready, answers came from %v, want node1 only", got.Bodies)
	}
	if err := c.SetState(ctx, "app", "node1", haproxy.StateDrain); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitDrained(ctx, "app", "node1", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	drained := load.Snapshot()
	time.Sleep(time.Second)
	res := load.Stop()
	if got := since(drained, res); got["node1"] != 0 || got["node2"] == 0 {
		t.Errorf("with node1 drained, answers came from %v, want node2 (the backup) only", got)
	}
	if res.Failed != 0 {
		t.Errorf("failed requests: %s", res)
	}
}

func TestStartHAProxy_ConfigHasAdminSocketsAndRetries(t *testing.T) {
	t.Parallel()
	a, _ := serveBody(t, "", "a")
	h := StartHAProxy(t, HAProxyOptions{Backend: "web", CheckPath: "/up", Inter: time.Second, Rise: 3, Fall: 4,
		Servers: []HAProxyServer{{Name: "n1", Addr: a}}})
	b, err := os.ReadFile(filepath.Join(h.Dir, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{
		"stats socket " + h.Admin + " mode 600 level admin",
		"stats socket ipv4@" + h.AdminTCP + " level admin",
		"bind " + h.Frontend,
		"option httpchk GET /up",
		"default-server inter 1000ms rise 3 fall 4",
		"server n1 " + a + " check\n",
		"retries 3", "option redispatch 1", "option http-server-close",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	// /up is not served (404), so the server is DOWN once checked.
	s, err := haproxy.New(h.AdminTCP).Server(bg(t, 10*time.Second), "web", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "DOWN" || s.CheckStatus != "L7STS" {
		t.Errorf("server with a 404 health check: %+v, want DOWN, L7STS", s)
	}
}

func TestStartLoad_PacesAndCountsStatusesAndBodies(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	l, err := net.Listen("tcp", net.JoinHostPort(LoopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case 1:
			fmt.Fprint(w, "  v1\n")
		default:
			fmt.Fprint(w, strings.Repeat("x", 100))
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	load := StartLoad(t, LoadOptions{URL: "http://" + l.Addr().String() + "/", Rate: 100, Workers: 4})
	time.Sleep(time.Second)
	res := load.Stop()
	if res.Sent < 70 || res.Sent > 130 {
		t.Errorf("sent %d in %s at 100 req/s", res.Sent, res.Duration)
	}
	if res.OK+res.Failed != res.Sent || int64(res.Sent) != n.Load() {
		t.Errorf("ok %d + failed %d != sent %d (server saw %d)", res.OK, res.Failed, res.Sent, n.Load())
	}
	if res.Failed == 0 || res.Errors["503 Service Unavailable"] != res.Failed {
		t.Errorf("503s not counted as failures by status: %s", res)
	}
	if res.Bodies["v1"] == 0 || res.Bodies[strings.Repeat("x", 64)] == 0 || len(res.Bodies) != 2 {
		t.Errorf("bodies not trimmed and cut at 64 bytes: %s", res)
	}
	again := load.Stop()
	if again.Sent != res.Sent || again.Duration != res.Duration {
		t.Errorf("second Stop = %s, first %s", again, res)
	}
}

func TestStartLoad_RefusedAndSlowRequestsFail(t *testing.T) {
	t.Parallel()
	// Nothing listens here.
	l, err := net.Listen("tcp", net.JoinHostPort(LoopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()
	res := StartLoad(t, LoadOptions{URL: "http://" + refused + "/", Rate: 50})
	time.Sleep(300 * time.Millisecond)
	r := res.Stop()
	if r.Sent == 0 || r.Failed != r.Sent || r.Errors["dial: connect: connection refused"] != r.Failed {
		t.Errorf("refused: %s", r)
	}

	l, err = net.Listen("tcp", net.JoinHostPort(LoopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	slow := StartLoad(t, LoadOptions{URL: "http://" + l.Addr().String() + "/", Rate: 20, Timeout: 200 * time.Millisecond})
	time.Sleep(500 * time.Millisecond)
	r = slow.Stop()
	if r.Failed == 0 || r.Errors["timeout after 200ms"] != r.Failed || r.OK != 0 {
		t.Errorf("slow: %s", r)
	}
}
