package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labfleet/labfleet/controller/cli"
	"github.com/labfleet/labfleet/internal/labtest"
)

// agentCheckStub answers HAProxy's agent-check protocol with whatever the
// test sets, as labagent's --agent-check-listen does.
type agentCheckStub struct {
	answer atomic.Value
	addr   string
}

func startAgentCheckStub(t *testing.T, ip, answer string) *agentCheckStub {
	s := &agentCheckStub{}
	s.answer.Store(answer)
	l, err := net.Listen("tcp", ip+":0")
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
			io.WriteString(c, s.answer.Load().(string)+"\n")
			c.Close()
		}
	}()
	s.addr = l.Addr().String()
	return s
}

func httpName(t *testing.T, ip, name string) string {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func TestNode_DrainAndReadyAfterCatchUp(t *testing.T) {
	ip1 := labtest.LoopbackIP()
	check := startAgentCheckStub(t, ip1, "up 0% #replication: connection 'node2': 3 transactions received, not yet applied")
	_, port, _ := net.SplitHostPort(check.addr)
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: httpName(t, ip1, "node1")},
		{Name: "node2", Addr: httpName(t, labtest.LoopbackIP(), "node2"), Backup: true},
	}})
	inv := filepath.Join(t.TempDir(), "inv.ini")
	body := fmt.Sprintf("[nodes]\nnode1 ansible_host=%s labagent_check_port=%s\nnode2 ansible_host=127.0.0.1\n", ip1, port)
	if err := os.WriteFile(inv, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := cli.Main(append([]string{"-i", inv, "--haproxy", h.Admin, "--haproxy-backend", "app", "node"}, args...), &out, &out)
		return code, out.String()
	}
	admin := func(name string) string {
		s, err := h.Client().Server(context.Background(), "app", name)
		if err != nil {
			t.Fatal(err)
		}
		return s.Admin
	}
	if code, out := run("drain", "node1"); code != 0 || !strings.Contains(out, "node1: drained") || admin("node1") != "drain" {
		t.Fatalf("drain node1: exit %d, admin %s\n%s", code, admin("node1"), out)
	}
	// node2 is now the only server that can take traffic.
	if code, out := run("drain", "node2"); code != 1 || !strings.Contains(out, "node2 is the only server") || admin("node2") != "ready" {
		t.Fatalf("drain of the last usable server: exit %d\n%s", code, out)
	}
	// Behind: ready waits and names why.
	if code, out := run("ready", "node1", "--timeout", "1500ms"); code != 1 || !strings.Contains(out, "3 transactions received, not yet applied") || admin("node1") != "drain" {
		t.Fatalf("ready while behind: exit %d, admin %s\n%s", code, admin("node1"), out)
	}
	check.answer.Store("up 100% #todo healthy, replication caught up")
	if code, out := run("ready", "node1"); code != 0 || !strings.Contains(out, "node1: ready: back in rotation") || admin("node1") != "ready" {
		t.Fatalf("ready once caught up: exit %d, admin %s\n%s", code, admin("node1"), out)
	}
	if code, out := run("ready", "node9"); code != 2 || !strings.Contains(out, `no node "node9"`) {
		t.Fatalf("unknown node: exit %d\n%s", code, out)
	}
}
