package haproxy_test

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/haproxy"
	"github.com/labfleet/labfleet/internal/labtest"
)

// agentCheck answers HAProxy's agent-check (one line per connection, then
// close) with the answer last set, as labagent's --agent-check-listen
// does. It returns the server-line option that points HAProxy at it.
type agentCheck struct{ answer atomic.Value }

func startAgentCheck(t *testing.T, answer string) (*agentCheck, string) {
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
	return a, "agent-check agent-addr " + host + " agent-port " + port + " agent-inter 200ms"
}

func (a *agentCheck) say(answer string) { a.answer.Store(answer) }

// waitServers polls backend app until ok holds for its servers.
func waitServers(t *testing.T, c *haproxy.Client, what string, ok func([]haproxy.Server) bool) []haproxy.Server {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		servers, err := c.Servers(ctxFor(t, 5*time.Second), "app")
		if err == nil && ok(servers) {
			return servers
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not seen within 15s: %+v %v", what, servers, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An agent-check answering "up 0% #COMMENT" leaves node1 UP and healthy
// but at weight 0: not usable, its comment readable, and HAProxy then
// sends every request to the backup, as Serving says. Back at 100%, node1
// serves again.
func TestClient_AgentWeightZeroHandsTrafficToTheBackup(t *testing.T) {
	t.Parallel()
	a, b := startApp(t, "a"), startApp(t, "b")
	agent1, extra1 := startAgentCheck(t, "up 0% #replication: behind by 3 transactions")
	_, extra2 := startAgentCheck(t, "up 100% #caught up")
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: a.addr, Extra: extra1}, {Name: "node2", Addr: b.addr, Backup: true, Extra: extra2},
	}})
	c := h.Client()
	servers := waitServers(t, c, "node1 at weight 0", func(s []haproxy.Server) bool {
		return s[0].Weight == 0 && s[1].AgentComment() != ""
	})
	n1, n2 := servers[0], servers[1]
	if !n1.Healthy() || n1.Status != "UP" || n1.Usable() || n1.NotUsable() != "weight 0 (agent: replication: behind by 3 transactions)" ||
		n1.AgentStatus != "L7OK" {
		t.Errorf("node1 = %+v (NotUsable %q), want UP and healthy but not usable at weight 0, naming the agent's comment", n1, n1.NotUsable())
	}
	if !n2.Backup || !n2.Usable() || n2.AgentComment() != "caught up" {
		t.Errorf("node2 = %+v, want a usable backup", n2)
	}
	if serving, viaBackup := haproxy.Serving(servers); len(serving) != 1 || serving[0].Name != "node2" || !viaBackup {
		t.Errorf("Serving = %+v, %v; want node2 through the backup", serving, viaBackup)
	}
	for i := range 6 {
		if _, body := get(t, h.URL("/")); body != "b" {
			t.Fatalf("request %d with node1 at weight 0 answered by %q, want the backup b", i, body)
		}
	}

	agent1.say("up 100% #caught up")
	servers = waitServers(t, c, "node1 back at full weight", func(s []haproxy.Server) bool { return s[0].Usable() })
	if serving, viaBackup := haproxy.Serving(servers); len(serving) != 1 || serving[0].Name != "node1" || viaBackup {
		t.Errorf("Serving = %+v, %v; want node1", serving, viaBackup)
	}
	for i := range 6 {
		if _, body := get(t, h.URL("/")); body != "a" {
			t.Fatalf("request %d with node1 back answered by %q, want a", i, body)
		}
	}

	// "down #COMMENT" takes node1 down whatever its health check says.
	agent1.say("down #mariadb not running")
	// Servers reads show stat, then show servers state: wait until both
	// have seen the answer.
	servers = waitServers(t, c, "node1 down by its agent", func(s []haproxy.Server) bool {
		return !s[0].Operational && s[0].Status == "DOWN (agent)"
	})
	if got := servers[0].NotUsable(); got != "down (agent: mariadb not running)" {
		t.Errorf("node1 NotUsable = %q, want down naming the agent's comment", got)
	}
	if serving, viaBackup := haproxy.Serving(servers); len(serving) != 1 || serving[0].Name != "node2" || !viaBackup {
		t.Errorf("Serving = %+v, %v; want node2 through the backup", serving, viaBackup)
	}
}
