package checks_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
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
		r.Want(t, 0, "HAPROXY OK: backend app: 2 of 2 servers usable | 'app_up'=2;2:;1:;0;2 'app_sessions'=0;;;0 'app_active_usable'=2;;;0;2 'app_backup_usable'=0;;;0;0\n")
		pt.Golden(t, "haproxy_ok", r, norm...)
	})
	t.Run("OK_TCPSocketAndCSVPage", func(t *testing.T) {
		run(t, "--socket", h.AdminTCP, "--backend", "app").Want(t, 0, "HAPROXY OK: backend app: 2 of 2 servers usable |")
		run(t, "--csv-url", stats+"/stats;csv", "--backend", "app").Want(t, 0, "HAPROXY OK: backend app: 2 of 2 servers usable |")
	})
	t.Run("WARNING_Drain", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Client().SetState(ctx, "app", "node2", haproxy.StateDrain); err != nil {
			t.Fatal(err)
		}
		r := run(t, "--socket", h.Admin)
		r.Want(t, 1, "HAPROXY WARNING: backend app: 1 of 2 servers usable (node2 DRAIN) | 'app_up'=1;2:;1:;0;2")
		pt.Golden(t, "haproxy_warning_drain", r, norm...)
		run(t, "--csv-url", stats+"/stats;csv").Want(t, 1, "HAPROXY WARNING: backend app: 1 of 2 servers usable (node2 DRAIN) |")
		run(t, "--socket", h.Admin, "-w", "1:").Want(t, 0, "HAPROXY OK: backend app: 1 of 2 servers usable (node2 DRAIN) |")
	})
	t.Run("CRITICAL_MaintAndDrain", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Client().SetState(ctx, "app", "node1", haproxy.StateMaint); err != nil {
			t.Fatal(err)
		}
		r := run(t, "--socket", h.Admin)
		r.Want(t, 2, "HAPROXY CRITICAL: backend app: no usable server, 0 of 2 servers usable (node1 MAINT, node2 DRAIN) |")
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
		r.Want(t, 1, "HAPROXY WARNING: backend web: 1 of 2 servers usable (node2 DOWN (L4CON)) |")
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

// agentCheck answers HAProxy's agent-check (one line, then close) with the
// answer last set, as labagent's --agent-check-listen does; extra is the
// server-line option that points HAProxy at it.
type agentCheck struct {
	answer atomic.Value
	extra  string
}

func startAgentCheck(t *testing.T, answer string) *agentCheck {
	t.Helper()
	a := &agentCheck{}
	a.answer.Store(answer)
	l, err := net.Listen("tcp", net.JoinHostPort(labtest.LoopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, a.answer.Load().(string)+"\n")
			c.Close()
		}
	}()
	host, port, _ := net.SplitHostPort(l.Addr().String())
	a.extra = "agent-check agent-addr " + host + " agent-port " + port + " agent-inter 200ms"
	return a
}

// The lab's backend (`labcontroller haproxy config --agent-check`): node1
// active, node2 backup, each node's agent-check deciding its weight.
func TestCheckHAProxy_PrimaryBackup(t *testing.T) {
	t.Parallel()
	agent1 := startAgentCheck(t, "up 100% #todo healthy, replication caught up")
	agent2 := startAgentCheck(t, "up 100% #todo healthy, replication caught up")
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: backend(t), Extra: agent1.extra},
		{Name: "node2", Addr: backend(t), Backup: true, Extra: agent2.extra},
	}})
	// wait until HAProxy shows what the agents say (stat is `show stat`).
	wait := func(t *testing.T, what string, ok func(stat string, n1, n2 haproxy.Server) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			stat, _ := h.Client().Command(context.Background(), "show stat")
			s, err := h.Client().Servers(context.Background(), "app")
			if err == nil && len(s) == 2 && ok(stat, s[0], s[1]) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not seen within 15s: %+v %v", what, s, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	run := func(t *testing.T, args ...string) pt.Result {
		t.Helper()
		return pt.Run(t, nil, "check_haproxy", append([]string{"--socket", h.Admin}, args...)...)
	}

	t.Run("OK_ActiveServes", func(t *testing.T) {
		wait(t, "both agents' answers", func(stat string, _, _ haproxy.Server) bool {
			return strings.Count(stat, "via agent : up (todo healthy, replication caught up)") == 2
		})
		r := run(t)
		r.Want(t, 0, "HAPROXY OK: backend app: node1 serving, 2 of 2 servers usable | 'app_up'=2;2:;1:;0;2 'app_sessions'=0;;;0 'app_active_usable'=1;;;0;1 'app_backup_usable'=1;;;0;1\n",
			"app/node1 (active): UP, weight 1, usable, check L7OK, agent: up (todo healthy, replication caught up), 0 sessions\n",
			"app/node2 (backup): UP, weight 1, usable, check L7OK, agent: up (todo healthy, replication caught up), 0 sessions\n")
		pt.Golden(t, "haproxy_ok_backup", r)
	})
	t.Run("WARNING_FailoverAgentWeightZero", func(t *testing.T) {
		agent1.answer.Store("up 0% #replication: connection 'node2': 3 transactions received, not yet applied")
		wait(t, "node1 at weight 0", func(_ string, n1, _ haproxy.Server) bool { return n1.Weight == 0 })
		r := run(t)
		r.Want(t, 1, "HAPROXY WARNING: backend app: failover: node2 serving, 1 of 2 servers usable (node1 weight 0 (agent: replication: connection 'node2': 3 transactions received, not yet applied)) | 'app_up'=1;2:;1:;0;2 'app_sessions'=0;;;0 'app_active_usable'=0;;;0;1 'app_backup_usable'=1;;;0;1\n")
		pt.Golden(t, "haproxy_warning_failover", r)
		// A failover is WARNING even where one server is enough.
		run(t, "-w", "1:").Want(t, 1, "HAPROXY WARNING: backend app: failover: node2 serving")
	})
	t.Run("CRITICAL_NoUsableServer", func(t *testing.T) {
		agent1.answer.Store("down #todo: container exited")
		agent2.answer.Store("up 0% #replication: behind by 5 transactions")
		wait(t, "node1 down, node2 at weight 0", func(_ string, n1, n2 haproxy.Server) bool { return !n1.Operational && n2.Weight == 0 })
		r := run(t)
		r.Want(t, 2, "HAPROXY CRITICAL: backend app: no usable server, 0 of 2 servers usable (node1 DOWN (agent: todo: container exited), node2 weight 0 (agent: replication: behind by 5 transactions)) |")
		pt.Golden(t, "haproxy_critical_no_usable", r)
		run(t, "-w", "0:", "-c", "0:").Want(t, 2, "HAPROXY CRITICAL: backend app: no usable server")
	})
	t.Run("DrainedActiveIsJudgedByThresholdsOnly", func(t *testing.T) {
		agent1.answer.Store("up 100% #todo healthy, replication caught up")
		agent2.answer.Store("up 100% #todo healthy, replication caught up")
		wait(t, "both back", func(_ string, n1, n2 haproxy.Server) bool {
			return n1.Operational && n1.Weight > 0 && n2.Operational && n2.Weight > 0
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Client().SetState(ctx, "app", "node1", haproxy.StateDrain); err != nil {
			t.Fatal(err)
		}
		run(t).Want(t, 1, "HAPROXY WARNING: backend app: backup node2 serving, 1 of 2 servers usable (node1 DRAIN) |")
		run(t, "-w", "1:").Want(t, 0, "HAPROXY OK: backend app: backup node2 serving, 1 of 2 servers usable (node1 DRAIN) |")
	})
}
