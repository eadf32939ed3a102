package cli_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// The rollout's guard counts a server as up only when HAProxy may use it.
// Here node2, the backup, passes its health checks but its agent-check
// holds it at weight 0 (captured from HAProxy): draining node1 would leave
// nothing serving, so the deploy stops before any change.
func TestDeploy_GuardDoesNotCountAServerAtWeightZero(t *testing.T) {
	a1, a2 := &fakeAgent{name: "node1", running: "v1"}, &fakeAgent{name: "node2", running: "v1"}
	inv := fleet(t, a1, a2)
	h := startFakeAdmin(t, "backup_weight0")
	code, out, errs := run(t, deployArgs(t, inv, "--haproxy", h.addr, "--haproxy-backend", "app")...)
	if code != 1 || !strings.Contains(errs+out, "would leave zero nodes serving") {
		t.Fatalf("exit %d, want 1 refusing to leave zero nodes serving\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if d, _ := a1.calls(); len(d) != 0 {
		t.Errorf("node1 was deployed %d times behind a backup at weight 0", len(d))
	}
	if c := h.changes(); len(c) != 0 {
		t.Errorf("HAProxy was changed: %q", c)
	}
}

// The same against a real HAProxy, with node2's weight set by a live
// agent-check: refused at "up 0%", and once the agent answers "up 100%"
// the deploy rolls over both nodes.
func TestDeploy_GuardFollowsARealAgentCheck(t *testing.T) {
	ip := labtest.LoopbackIP()
	check := startAgentCheckStub(t, ip, "up 0% #replication: connection 'node1': 2 transactions received, not yet applied")
	_, port, _ := net.SplitHostPort(check.addr)
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: httpName(t, labtest.LoopbackIP(), "node1")},
		{Name: "node2", Addr: httpName(t, ip, "node2"), Backup: true, Extra: "agent-check agent-addr " + ip + " agent-port " + port + " agent-inter 200ms"},
	}})
	weight := func() int {
		s, err := h.Client().Server(context.Background(), "app", "node2")
		if err != nil {
			t.Fatal(err)
		}
		return s.Weight
	}
	waitWeight := func(want int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for weight() != want {
			if time.Now().After(deadline) {
				t.Fatalf("node2's weight is not %d within 15s", want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitWeight(0)
	a1, a2 := &fakeAgent{name: "node1", running: "v1"}, &fakeAgent{name: "node2", running: "v1"}
	inv := fleet(t, a1, a2)
	args := deployArgs(t, inv, "--haproxy", h.Admin, "--haproxy-backend", "app", "--up-timeout", "10s")
	code, out, errs := run(t, args...)
	if code != 1 || !strings.Contains(errs+out, "would leave zero nodes serving") {
		t.Fatalf("node2 at weight 0: exit %d, want 1 refusing\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if d, _ := a1.calls(); len(d) != 0 {
		t.Fatalf("node1 deployed while node2 was at weight 0")
	}
	if s, _ := h.Client().Server(context.Background(), "app", "node1"); s.Admin != "ready" {
		t.Errorf("node1 left %s by a refused deploy", s.Admin)
	}

	check.answer.Store("up 100% #todo healthy, replication caught up")
	waitWeight(1)
	code, out, errs = run(t, args...)
	if code != 0 {
		t.Fatalf("node2 back at full weight: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, a := range []*fakeAgent{a1, a2} {
		if d, _ := a.calls(); len(d) != 1 {
			t.Errorf("%s got %d deploys, want 1", a.name, len(d))
		}
	}
}
