package checks_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/haproxy"
	"github.com/labfleet/labfleet/internal/labtest"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

// backend is an HTTP server on a fresh loopback address whose /healthz
// answers 200, as HAProxy's checks want.
func backend(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(labtest.LoopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// statsPage serves HAProxy's live `show stat` CSV over HTTP at /stats;csv,
// read from the admin socket at each request, the way HAProxy's own stats
// page serves the same table; /html answers a page that is not CSV.
func statsPage(t *testing.T, admin string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(labtest.LoopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stats;csv":
			out, err := haproxy.New(admin).Command(r.Context(), "show stat")
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			fmt.Fprint(w, out)
		case "/html":
			fmt.Fprint(w, "<html>stats</html>")
		default:
			http.NotFound(w, r)
		}
	})
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: handler}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

func TestCheckHAProxy(t *testing.T) {
	t.Parallel()
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: backend(t)}, {Name: "node2", Addr: backend(t)},
	}})
	// A second HAProxy, where node2's address has nothing listening.
	down := labtest.StartHAProxy(t, labtest.HAProxyOptions{Backend: "web", Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: backend(t)}, {Name: "node2", Addr: pt.ClosedAddr(t)},
	}})
	stats := statsPage(t, h.AdminTCP)
	norm := []pt.Norm{pt.Literal(h.Admin, "SOCKET")}
	run := func(t *testing.T, args ...string) pt.Result {
		t.Helper()
		return pt.Run(t, nil, "check_haproxy", args...)
	}

	t.Run("OK_UnixSocket", func(t *testing.T) {
		r := run(t, "--socket", h.Admin)
		r.Want(t, 0, "HAPROXY OK: backend app: 2 of 2 servers UP | 'app_up'=2;2:;1:;0;2 'app_sessions'=0;;;0")
		pt.Golden(t, "haproxy_ok", r, norm...)
	})
	t.Run("OK_TCPSocketAndCSVPage", func(t *testing.T) {
		run(t, "--socket", h.AdminTCP, "--backend", "app").Want(t, 0, "HAPROXY OK: backend app: 2 of 2 servers UP")
		run(t, "--csv-url", stats+"/stats;csv", "--backend", "app").Want(t, 0, "HAPROXY OK: backend app: 2 of 2 servers UP")
	})
	t.Run("WARNING_Drain", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Client().SetState(ctx, "app", "node2", haproxy.StateDrain); err != nil {
			t.Fatal(err)
		}
		r := run(t, "--socket", h.Admin)
		r.Want(t, 1, "HAPROXY WARNING: backend app: 1 of 2 servers UP (node2 DRAIN) | 'app_up'=1;2:;1:;0;2")
		pt.Golden(t, "haproxy_warning_drain", r, norm...)
		run(t, "--csv-url", stats+"/stats;csv").Want(t, 1, "HAPROXY WARNING: backend app: 1 of 2 servers UP (node2 DRAIN)")
		run(t, "--socket", h.Admin, "-w", "1:").Want(t, 0, "HAPROXY OK: backend app: 1 of 2 servers UP (node2 DRAIN)")
	})
	t.Run("CRITICAL_MaintAndDrain", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Client().SetState(ctx, "app", "node1", haproxy.StateMaint); err != nil {
			t.Fatal(err)
		}
		r := run(t, "--socket", h.Admin)
		r.Want(t, 2, "HAPROXY CRITICAL: backend app: 0 of 2 servers UP (node1 MAINT, node2 DRAIN)")
		pt.Golden(t, "haproxy_critical_maint", r, norm...)
	})
	t.Run("WARNING_Down", func(t *testing.T) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			s, err := down.Client().Server(context.Background(), "web", "node2")
			if err == nil && s.Status == "DOWN" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node2 not DOWN within 20s: %+v %v", s, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		r := run(t, "--socket", down.AdminTCP)
		r.Want(t, 1, "HAPROXY WARNING: backend web: 1 of 2 servers UP (node2 DOWN (L4CON))")
		pt.Golden(t, "haproxy_warning_down", r)
	})
	t.Run("CRITICAL_Unreachable", func(t *testing.T) {
		run(t, "--socket", "/nonexistent/admin.sock").Want(t, 2, "HAPROXY CRITICAL: HAProxy admin socket unavailable: cannot connect to /nonexistent/admin.sock")
		run(t, "--socket", h.Admin, "--backend", "nope").Want(t, 2, "HAPROXY CRITICAL: HAProxy at "+h.Admin+` has no backend "nope" (backends: app)`)
		r := run(t, "--csv-url", pt.ClosedURL(t))
		r.Want(t, 2, "HAPROXY CRITICAL: cannot read the HAProxy stats page: ")
		pt.Golden(t, "haproxy_critical_refused", r)
		run(t, "--csv-url", stats+"/nope").Want(t, 2, "answered 404 Not Found")
	})
	t.Run("UNKNOWN_Options", func(t *testing.T) {
		r := run(t)
		r.Want(t, 3, "HAPROXY UNKNOWN: give one of --socket ADDR or --csv-url URL (see check_haproxy --help)")
		pt.Golden(t, "haproxy_unknown_options", r)
		run(t, "--socket", h.Admin, "--csv-url", stats).Want(t, 3, "give one of --socket ADDR or --csv-url URL")
		run(t, "--csv-url", stats+"/html").Want(t, 3, "HAPROXY UNKNOWN: cannot read the statistics from ", "does --csv-url end in ;csv?")
		run(t, "--socket", h.Admin, "-c", "1:x").Want(t, 3, `invalid range "1:x"`)
	})
}
