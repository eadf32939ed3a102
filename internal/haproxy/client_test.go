package haproxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/haproxy"
	"github.com/labfleet/labfleet/internal/labtest"
)

// app is an HTTP server on a fresh loopback address: /healthz answers 200,
// / answers its name, /hold answers only once release is called.
type app struct {
	addr        string
	releaseOnce sync.Once
	released    chan struct{}
}

func startApp(t *testing.T, name string) *app {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(labtest.LoopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	a := &app{addr: l.Addr().String(), released: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("GET /hold", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-a.released:
		case <-r.Context().Done():
		}
		fmt.Fprint(w, name)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		a.release()
		srv.Close()
	})
	return a
}

func (a *app) release() { a.releaseOnce.Do(func() { close(a.released) }) }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestClient_ServersReadsLiveStateOverBothSockets(t *testing.T) {
	t.Parallel()
	a, b := startApp(t, "a"), startApp(t, "b")
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: a.addr}, {Name: "node2", Addr: b.addr, Backup: true},
	}})
	for _, addr := range []string{h.Admin, h.AdminTCP} {
		servers, err := haproxy.New(addr).Servers(ctxFor(t, 10*time.Second), "app")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if len(servers) != 2 {
			t.Fatalf("%s: %d servers, want 2: %+v", addr, len(servers), servers)
		}
		for i, want := range []struct {
			name, addr string
			backup     bool
		}{{"node1", a.addr, false}, {"node2", b.addr, true}} {
			s := servers[i]
			if s.Backend != "app" || s.Name != want.name || s.Addr != want.addr || s.Backup != want.backup ||
				s.Status != "UP" || s.Admin != "ready" || !s.Operational || !s.Healthy() ||
				s.CheckStatus != "L7OK" || s.Weight != 1 || s.Sessions != 0 {
				t.Errorf("%s: server %d = %+v, want %s at %s UP ready L7OK weight 1", addr, i, s, want.name, want.addr)
			}
		}
	}
}

func TestClient_DrainShowsDrainKeepsCheckingAndReadyRestores(t *testing.T) {
	t.Parallel()
	a, b := startApp(t, "a"), startApp(t, "b")
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: a.addr}, {Name: "node2", Addr: b.addr},
	}})
	c := h.Client()
	ctx := ctxFor(t, 30*time.Second)
	if err := c.SetState(ctx, "app", "node1", haproxy.StateDrain); err != nil {
		t.Fatal(err)
	}
	s, err := c.Server(ctx, "app", "node1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "DRAIN" || s.Admin != "drain" || !s.Operational {
		t.Errorf("after drain: %+v, want status DRAIN, admin drain, operational", s)
	}
	// A drained server is still checked, so WaitUp answers for it.
	if err := c.WaitUp(ctx, "app", "node1", 50*time.Millisecond); err != nil {
		t.Errorf("WaitUp on a drained healthy server: %v", err)
	}
	for i := range 6 {
		if _, body := get(t, h.URL("/")); body != "b" {
			t.Fatalf("request %d after drain answered by %q, want b", i, body)
		}
	}
	if err := c.SetState(ctx, "app", "node1", haproxy.StateReady); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Server(ctx, "app", "node1"); s.Status != "UP" || s.Admin != "ready" {
		t.Errorf("after ready: %+v, want status UP, admin ready", s)
	}
	seen := map[string]bool{}
	for range 6 {
		_, body := get(t, h.URL("/"))
		seen[body] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("after ready, answers came from %v, want a and b", seen)
	}
}

func TestClient_WaitDrainedReturnsOnceTheHeldRequestEnds(t *testing.T) {
	t.Parallel()
	a := startApp(t, "a")
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{{Name: "node1", Addr: a.addr}}})
	c := h.Client()

	held := make(chan string, 1)
	go func() {
		_, body := get(t, h.URL("/hold"))
		held <- body
	}()
	for deadline := time.Now().Add(5 * time.Second); ; {
		s, err := c.Server(context.Background(), "app", "node1")
		if err == nil && s.Sessions == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the held request did not reach node1 within 5s: %+v, %v", s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.SetState(ctxFor(t, 5*time.Second), "app", "node1", haproxy.StateDrain); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	err := c.WaitDrained(short, "app", "node1", 50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still has 1 sessions") {
		t.Errorf("WaitDrained with a request held: err = %v, want a timeout saying 1 session remains", err)
	}

	time.AfterFunc(200*time.Millisecond, a.release)
	start := time.Now()
	if err := c.WaitDrained(ctxFor(t, 10*time.Second), "app", "node1", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("WaitDrained returned after %s, before the held request ended", took)
	}
	if body := <-held; body != "a" {
		t.Errorf("held request answered %q, want a (a drain must let it finish)", body)
	}
}

func TestClient_MaintStopsChecksAndReadyNeedsACheckToBeUp(t *testing.T) {
	t.Parallel()
	a, b := startApp(t, "a"), startApp(t, "b")
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: a.addr}, {Name: "node2", Addr: b.addr},
	}})
	c := haproxy.New(h.AdminTCP)
	ctx := ctxFor(t, 30*time.Second)
	if err := c.SetState(ctx, "app", "node1", haproxy.StateMaint); err != nil {
		t.Fatal(err)
	}
	s, err := c.Server(ctx, "app", "node1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "MAINT" || s.Admin != "maint" || s.Operational || s.CheckStatus != "" {
		t.Errorf("after maint: %+v, want MAINT, admin maint, not operational, no check status", s)
	}
	if err := c.WaitUp(ctx, "app", "node1", 50*time.Millisecond); !errors.Is(err, haproxy.ErrMaint) {
		t.Errorf("WaitUp in maint: err = %v, want ErrMaint", err)
	}
	if err := c.SetState(ctx, "app", "node1", haproxy.StateReady); err != nil {
		t.Fatal(err)
	}
	// HAProxy 2.6 marks a server leaving maint as running at once, one
	// failed check from down ("UP 1/2"), before any check has passed.
	if s, _ := c.Server(ctx, "app", "node1"); !s.Operational || s.Admin != "ready" {
		t.Errorf("right after ready: %+v, want operational and ready", s)
	}
	if err := c.WaitUp(ctx, "app", "node1", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Server(ctx, "app", "node1"); s.Status != "UP" || s.CheckStatus != "L7OK" {
		t.Errorf("after WaitUp: %+v, want UP after an L7OK check", s)
	}
}

func TestClient_WaitUpReportsLastStatusThenSeesTheAppArrive(t *testing.T) {
	t.Parallel()
	a := startApp(t, "a")
	// Nothing listens at node2's address yet.
	l, err := net.Listen("tcp", net.JoinHostPort(labtest.LoopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	later := l.Addr().String()
	l.Close()
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: a.addr}, {Name: "node2", Addr: later},
	}})
	c := h.Client()
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = c.WaitUp(short, "app", "node2", 50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitUp with nothing listening: err = %v, want a timeout", err)
	}
	for _, want := range []string{`"DOWN"`, "L4CON", later} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}

	l, err = net.Listen("tcp", later)
	if err != nil {
		t.Fatalf("cannot listen on %s again: %v", later, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	if err := c.WaitUp(ctxFor(t, 10*time.Second), "app", "node2", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestClient_UnknownBackendOrServerNamesWhatExists(t *testing.T) {
	t.Parallel()
	a := startApp(t, "a")
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Backend: "web", Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: a.addr}, {Name: "node2", Addr: a.addr},
	}})
	c := h.Client()
	ctx := ctxFor(t, 10*time.Second)

	_, err := c.Servers(ctx, "nope")
	mustBe(t, "Servers(nope)", err, haproxy.ErrNoBackend, `"nope"`, "web")
	err = c.SetState(ctx, "nope", "node1", haproxy.StateDrain)
	mustBe(t, "SetState(nope/node1)", err, haproxy.ErrNoBackend, `"nope"`, "web")
	_, err = c.Server(ctx, "web", "node9")
	mustBe(t, "Server(web/node9)", err, haproxy.ErrNoServer, `"node9"`, "node1, node2")
	err = c.SetState(ctx, "web", "node9", haproxy.StateDrain)
	mustBe(t, "SetState(web/node9)", err, haproxy.ErrNoServer, `"node9"`, "node1, node2")
	err = c.WaitDrained(ctx, "web", "node9", 50*time.Millisecond)
	mustBe(t, "WaitDrained(web/node9)", err, haproxy.ErrNoServer, `"node9"`)
}

func mustBe(t *testing.T, what string, err, target error, mentions ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
		return
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not mention %s", what, err, m)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
