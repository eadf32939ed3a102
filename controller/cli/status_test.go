package cli_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

func TestStatus_SameVersionEverywhere(t *testing.T) {
	inv := fleet(t, &fakeAgent{name: "node1", running: "v2", previous: "v1"}, &fakeAgent{name: "node2", running: "v2", previous: "v1"})
	code, out, errs := run(t, "-i", inv, "status", "--check")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q\n%s", code, errs, out)
	}
	hasLine(t, "status", out, "NODE", "APP", "VERSION", "DIGEST", "HEALTH", "STATE", "RESTARTS", "UP", "RETAINED")
	for _, n := range []string{"node1", "node2"} {
		hasLine(t, "status", out, n, "todo", "v2", digest("v2")[:19], "healthy", "running", "0", "1h0m0s", "v1")
	}
	if line(out, "node1", "*v2") != "" {
		t.Errorf("same versions marked as drift:\n%s", out)
	}
}

func TestStatus_DriftIsMarkedAndFailsCheck(t *testing.T) {
	inv := fleet(t, &fakeAgent{name: "node1", running: "v2", previous: "v1"}, &fakeAgent{name: "node2", running: "v1", previous: "v0"})
	code, out, errs := run(t, "-i", inv, "status")
	if code != 0 {
		t.Fatalf("without --check drift is reported only; exit %d, stderr %q", code, errs)
	}
	hasLine(t, "status", out, "node1", "todo", "*v2")
	hasLine(t, "status", out, "node2", "todo", "*v1")
	contains(t, "status", out, "* DRIFT: the nodes do not all run the same version of todo")

	code, _, errs = run(t, "-i", inv, "status", "--check")
	if code != 1 || errs != "labcontroller: version drift in todo\n" {
		t.Errorf("--check: exit %d, stderr %q; want 1 naming the drift", code, errs)
	}
}

func TestStatus_MissingAppJSON(t *testing.T) {
	inv := fleet(t, &fakeAgent{name: "node1", running: "v2"}, &fakeAgent{name: "node2"})
	code, out, errs := run(t, "-i", inv, "-o", "json", "status", "--app", "todo", "--check")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	contains(t, "stderr", errs, "version drift in todo", "node2: no app todo")
	var rows []struct {
		Node, App, Version, Health string
		Drift                      bool
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if len(rows) != 2 || rows[0].Node != "node1" || rows[0].Version != "v2" || rows[0].Health != "healthy" || !rows[0].Drift ||
		rows[1].Node != "node2" || rows[1].App != "todo" || rows[1].Health != "MISSING" || !rows[1].Drift {
		t.Errorf("rows = %+v", rows)
	}
}

// fakeAdmin is an HAProxy admin socket on loopback TCP that answers `show
// stat` and `show servers state app` with answers captured from HAProxy
// 2.6 (internal/haproxy/testdata, see its parse_test.go): the lab's
// backend, node1 active and node2 backup, each with an agent-check, in
// the named state. Any other command gets an empty answer, which is how
// HAProxy acknowledges `set server`; the commands are recorded.
type fakeAdmin struct {
	addr     string
	mu       sync.Mutex
	commands []string
}

func startFakeAdmin(t *testing.T, state string) *fakeAdmin {
	t.Helper()
	answers := map[string]string{}
	for cmd, file := range map[string]string{"show stat": "show_stat_agent_" + state + ".txt", "show servers state app": "servers_state_agent_" + state + ".txt"} {
		b, err := os.ReadFile(filepath.Join(labtest.RepoRoot(), "internal", "haproxy", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		answers[cmd] = string(b)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fakeAdmin{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			cmd, _ := bufio.NewReader(c).ReadString('\n')
			cmd = strings.TrimSuffix(cmd, "\n")
			f.mu.Lock()
			f.commands = append(f.commands, cmd)
			f.mu.Unlock()
			io.WriteString(c, answers[cmd])
			c.Close()
		}
	}()
	return f
}

// changes returns the commands sent that were not `show` commands.
func (f *fakeAdmin) changes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.commands {
		if !strings.HasPrefix(c, "show ") {
			out = append(out, c)
		}
	}
	return out
}

func twoNodes(t *testing.T) string {
	return fleet(t, &fakeAgent{name: "node1", running: "v2", previous: "v1"}, &fakeAgent{name: "node2", running: "v2", previous: "v1"})
}

func TestStatus_HAProxyShowsActiveAndBackupAndWhichServes(t *testing.T) {
	inv := twoNodes(t)
	for _, tc := range []struct {
		state        string
		node1, node2 string
		note         string
	}{
		{"ok", "active UP, usable, serving", "backup UP, usable", ""},
		{"failover", "active UP, NOT USABLE: weight 0 (agent: replication: connection 'node2': 5 transactions received, not yet applied)",
			"backup UP, usable, serving",
			"HAProxy backend app: failover: node2 serving, no active server is usable: node1 weight 0 (agent: replication: connection 'node2': 5 transactions received, not yet applied)\n"},
		{"backup_weight0", "active UP, usable, serving", "backup UP, NOT USABLE: weight 0 (agent: replication: IO thread not running)", ""},
		// A drain for a rollout or `node drain`: the backup serves; the
		// status says why and --check does not fail for it.
		{"drain", "active DRAIN (agent), NOT USABLE", "backup UP, usable, serving",
			"HAProxy backend app: failover: node2 serving, no active server is usable: node1 drain\n"},
	} {
		t.Run(tc.state, func(t *testing.T) {
			h := startFakeAdmin(t, tc.state)
			code, out, errs := run(t, "-i", inv, "--haproxy", h.addr, "--haproxy-backend", "app", "status", "--check")
			if code != 0 || errs != "" {
				t.Fatalf("exit %d, stderr %q\n%s", code, errs, out)
			}
			hasLine(t, "status", out, "NODE", "APP", "VERSION", "DIGEST", "HEALTH", "STATE", "RESTARTS", "UP", "RETAINED", "HAPROXY")
			for node, want := range map[string]string{"node1": tc.node1, "node2": tc.node2} {
				if l := line(out, node, "todo"); !strings.HasSuffix(strings.TrimSpace(l), want) {
					t.Errorf("%s's line %q does not end in %q", node, l, want)
				}
			}
			_, note, _ := strings.Cut(out, "\n\n")
			if note != tc.note {
				t.Errorf("below the table: %q, want %q\n%s", note, tc.note, out)
			}
		})
	}
}

func TestStatus_HAProxyWithNoUsableServerFailsCheck(t *testing.T) {
	inv := twoNodes(t)
	h := startFakeAdmin(t, "none_usable")
	const why = "HAProxy backend app: no usable server: node1 down (agent: app todo: container exited), node2 weight 0 (agent: replication: behind by 5 transactions)"
	code, out, errs := run(t, "-i", inv, "--haproxy", h.addr, "--haproxy-backend", "app", "status")
	if code != 0 || !strings.HasSuffix(out, "\n\n"+why+"\n") {
		t.Errorf("without --check: exit %d, stderr %q, want 0 and the table followed by %q:\n%s", code, errs, why, out)
	}
	hasLine(t, "status", out, "node1", "todo", "active", "DOWN", "(agent),", "NOT", "USABLE:", "down", "(agent:", "app", "todo:", "container", "exited)")
	code, out, errs = run(t, "-i", inv, "--haproxy", h.addr, "--haproxy-backend", "app", "-o", "json", "status", "--check")
	if code != 1 || errs != "labcontroller: "+why+"\n" {
		t.Errorf("--check: exit %d, stderr %q; want 1 naming why no server is usable", code, errs)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("stdout is not two JSON rows: %v\n%s", err, out)
	}
	for i, want := range []map[string]any{
		{"haproxy": "DOWN (agent)", "haproxy_role": "active", "haproxy_usable": false, "haproxy_weight": 1.0,
			"haproxy_not_usable": "down (agent: app todo: container exited)", "haproxy_agent": "app todo: container exited"},
		{"haproxy": "UP", "haproxy_role": "backup", "haproxy_usable": false, "haproxy_weight": 0.0,
			"haproxy_not_usable": "weight 0 (agent: replication: behind by 5 transactions)", "haproxy_agent": "replication: behind by 5 transactions"},
	} {
		for k, v := range want {
			if rows[i][k] != v {
				t.Errorf("row %d: %s = %#v, want %#v", i, k, rows[i][k], v)
			}
		}
		if _, ok := rows[i]["haproxy_serving"]; ok {
			t.Errorf("row %d: haproxy_serving set with no usable server: %v", i, rows[i])
		}
	}
}

// Against a real HAProxy: node1's agent-check holds it at weight 0, so the
// backup serves, and status says so with the agent's reason; once the
// agent answers 100% node1 serves again.
func TestStatus_RealHAProxyAgentCheckWeightZero(t *testing.T) {
	ip := labtest.LoopbackIP()
	check := startAgentCheckStub(t, ip, "up 0% #replication: behind by 3 transactions")
	_, port, _ := net.SplitHostPort(check.addr)
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{
		{Name: "node1", Addr: httpName(t, ip, "node1"), Extra: "agent-check agent-addr " + ip + " agent-port " + port + " agent-inter 200ms"},
		{Name: "node2", Addr: httpName(t, labtest.LoopbackIP(), "node2"), Backup: true},
	}})
	inv := twoNodes(t)
	status := func() string {
		code, out, errs := run(t, "-i", inv, "--haproxy", h.Admin, "--haproxy-backend", "app", "status", "--check")
		if code != 0 {
			t.Fatalf("exit %d, stderr %q\n%s", code, errs, out)
		}
		return out
	}
	eventually := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			out := status()
			if ok(out) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not shown within 15s:\n%s", what, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	out := eventually("node1 at weight 0", func(out string) bool { return strings.Contains(out, "weight 0") })
	hasLine(t, "status", out, "node1", "todo", "active", "UP,", "NOT", "USABLE:", "weight", "0", "(agent:", "replication:", "behind", "by", "3", "transactions)")
	hasLine(t, "status", out, "node2", "todo", "backup", "UP,", "usable,", "serving")
	contains(t, "status", out, "HAProxy backend app: failover: node2 serving, no active server is usable: node1 weight 0 (agent: replication: behind by 3 transactions)")

	check.answer.Store("up 100% #caught up")
	out = eventually("node1 back", func(out string) bool { return !strings.Contains(out, "weight 0") })
	hasLine(t, "status", out, "node1", "todo", "active", "UP,", "usable,", "serving")
	hasLine(t, "status", out, "node2", "todo", "backup", "UP,", "usable")
	if strings.Contains(out, "failover") || strings.Contains(line(out, "node2", "todo"), "serving") {
		t.Errorf("node1 back, yet the backup is still shown serving:\n%s", out)
	}
}
