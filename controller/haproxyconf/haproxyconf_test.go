package haproxyconf

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/fleet"
	"github.com/labfleet/labfleet/internal/labtest"
)

func node(name, addr string, vars map[string]any) fleet.Node {
	return fleet.Node{Name: name, Conn: agentclient.Options{Addr: addr}, Vars: vars}
}

func TestBackend_PrimaryBackupWithAgentChecks(t *testing.T) {
	servers, err := FromInventory([]fleet.Node{
		node("node1", "127.0.0.11:7443", map[string]any{}),
		node("node2", "127.0.0.12:7443", map[string]any{"haproxy_backup": "true", "labagent_check_port": "7500"}),
	}, InventoryOptions{AppPort: 8000, AgentCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Backend(Options{}, servers)
	if err != nil {
		t.Fatal(err)
	}
	want := `backend app
    # primary/backup: the backup servers take traffic only when no active server is usable
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 1000ms rise 2 fall 2
    server node1 127.0.0.11:8000 check agent-check agent-addr 127.0.0.11 agent-port 7444 agent-inter 2000ms
    server node2 127.0.0.12:8000 check backup agent-check agent-addr 127.0.0.12 agent-port 7500 agent-inter 2000ms
`
	if got != want {
		t.Fatalf("backend:\n%s\nwant:\n%s", got, want)
	}
}

func TestBackend_RoundRobinStaysAChoice(t *testing.T) {
	servers, err := FromInventory([]fleet.Node{node("a", "10.0.0.1:7443", map[string]any{"app_port": 9000}), node("b", "10.0.0.2:7443", nil)},
		InventoryOptions{AppPort: 8000})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Backend(Options{Backend: "web"}, servers)
	if strings.Contains(got, "backup") || !strings.Contains(got, "server a 10.0.0.1:9000 check\n") || !strings.Contains(got, "server b 10.0.0.2:8000 check\n") {
		t.Fatalf("round robin backend:\n%s", got)
	}
}

func TestBackend_RefusesWhatCannotWork(t *testing.T) {
	cases := []struct {
		name  string
		nodes []fleet.Node
		o     InventoryOptions
		want  string
	}{
		{"all backup", []fleet.Node{node("a", "10.0.0.1:7443", map[string]any{"haproxy_backup": true})}, InventoryOptions{AppPort: 80}, "at least one must be active"},
		{"bad flag", []fleet.Node{node("a", "10.0.0.1:7443", map[string]any{"haproxy_backup": "maybe"})}, InventoryOptions{AppPort: 80}, "haproxy_backup=maybe"},
		{"no port", []fleet.Node{node("a", "10.0.0.1:7443", nil)}, InventoryOptions{}, "give --port or the host var app_port"},
		{"bad port", []fleet.Node{node("a", "10.0.0.1:7443", map[string]any{"app_port": "x"})}, InventoryOptions{AppPort: 80}, "app_port=x is not a port"},
		{"bad name", []fleet.Node{node("a;b", "10.0.0.1:7443", nil)}, InventoryOptions{AppPort: 80}, `server name "a;b"`},
	}
	for _, c := range cases {
		servers, err := FromInventory(c.nodes, c.o)
		if err == nil {
			_, err = Backend(Options{}, servers)
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid with %q", c.name, err, c.want)
		}
	}
}

// TestCheck_RealHAProxy validates the rendered backend with the real haproxy -c.
func TestCheck_RealHAProxy(t *testing.T) {
	bin := labtest.Tool(t, "haproxy")
	block, err := Backend(Options{}, []Server{{Name: "node1", Addr: "127.0.0.11:8000", AgentAddr: "127.0.0.11:7444"},
		{Name: "node2", Addr: "127.0.0.12:8000", Backup: true, AgentAddr: "127.0.0.12:7444"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(context.Background(), bin, block); err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(block, "agent-inter 2000ms", "agent-inter soon", 1)
	if err := Check(context.Background(), bin, broken); err == nil || !strings.Contains(err.Error(), "agent-inter") {
		t.Fatalf("haproxy -c accepted a broken backend: %v", err)
	}
}
