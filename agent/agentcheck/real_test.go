package agentcheck_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labfleet/labfleet/agent/agentcheck"
	"github.com/labfleet/labfleet/internal/labtest"
)

type switchApps struct{ ok atomic.Bool }

func (s *switchApps) AppReady(context.Context, string) (bool, string, error) {
	if s.ok.Load() {
		return true, "", nil
	}
	return false, "container stopped", nil
}

type switchDB struct{ ok atomic.Bool }

func (s *switchDB) CaughtUp(context.Context) (bool, string, error) {
	if s.ok.Load() {
		return true, "", nil
	}
	return false, "connection 'node2': 5 transactions received, not yet applied", nil
}

// serve answers HTTP with name, as an app container would.
func serve(t *testing.T, name string) string {
	l, err := net.Listen("tcp", labtest.LoopbackIP()+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// TestAgentCheck_RealHAProxy: HAProxy follows the node's answer. A node
// whose replication is behind gets weight 0 and the backup serves; caught
// up, it serves again; a drain set on the admin socket (as labcontroller's
// rollout does) is not undone by the agent; a stopped app is DOWN.
func TestAgentCheck_RealHAProxy(t *testing.T) {
	apps, db := &switchApps{}, &switchDB{}
	apps.ok.Store(true)
	ch := &agentcheck.Checker{App: "todo", Apps: apps, DB: db, Timeout: time.Second}
	l, err := net.Listen("tcp", labtest.LoopbackIP()+":0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ch.Serve(ctx, l, slog.New(slog.NewTextHandler(io.Discard, nil)))
	host, port, _ := net.SplitHostPort(l.Addr().String())
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: serve(t, "node1"), Extra: fmt.Sprintf("agent-check agent-addr %s agent-port %s agent-inter 200ms", host, port)},
		{Name: "node2", Addr: serve(t, "node2"), Backup: true},
	}})
	c := h.Client()
	get := func() string {
		resp, err := http.Get(h.URL("/"))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	server := func() string {
		s, err := c.Server(ctx, "app", "node1")
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("status %s weight %d admin %s", s.Status, s.Weight, s.Admin)
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10s: %s (node1: %s)\n%s", what, server(), h.Log())
			}
		}
	}

	eventually("node1 behind: weight 0, the backup serves", func() bool { return get() == "node2" && strings.Contains(server(), "weight 0") })
	db.ok.Store(true)
	eventually("node1 caught up: it serves again", func() bool { return get() == "node1" })

	if err := c.SetState(ctx, "app", "node1", "drain"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // five agent answers of "up 100%"
	if s := server(); !strings.Contains(s, "admin drain") || get() != "node2" {
		t.Fatalf("the agent undid the operator's drain: %s", s)
	}
	if err := c.SetState(ctx, "app", "node1", "ready"); err != nil {
		t.Fatal(err)
	}
	eventually("node1 ready again", func() bool { return get() == "node1" })

	apps.ok.Store(false)
	eventually("node1's app stopped: DOWN", func() bool { return strings.HasPrefix(server(), "status DOWN") && get() == "node2" })
}
