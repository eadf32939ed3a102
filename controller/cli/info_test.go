package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestInfo_TwoNodesTable(t *testing.T) {
	inv := fleet(t, &fakeAgent{name: "node1"}, &fakeAgent{name: "node2"})
	code, out, errs := run(t, "-i", inv, "info")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	hasLine(t, "info", out, "NODE", "ADDRESS", "AGENT", "VERSION", "DOCKER", "UPTIME")
	for _, n := range []string{"node1", "node2"} {
		hasLine(t, "info", out, n, "ok", "0.9.0-test", "28.5.2", "(API", "1.51)", "1m30s")
	}
	if errs != "" {
		t.Errorf("stderr = %q", errs)
	}
}

func TestInfo_JSON(t *testing.T) {
	inv := fleet(t, &fakeAgent{name: "node1"})
	code, out, errs := run(t, "-i", inv, "-o", "json", "info")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var rows []struct {
		Node, Address, Docker, Uptime string
		Reachable                     bool
		AgentVersion                  string   `json:"agent_version"`
		AgentNode                     string   `json:"agent_node_name"`
		Capabilities                  []string `json:"capabilities"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if len(rows) != 1 {
		t.Fatalf("rows = %+v", rows)
	}
	r := rows[0]
	if r.Node != "node1" || !strings.HasPrefix(r.Address, "127.0.0.1:") || !r.Reachable || r.AgentVersion != "0.9.0-test" ||
		r.AgentNode != "node1" || r.Docker != "28.5.2 (API 1.51)" || r.Uptime != "1m30s" || strings.Join(r.Capabilities, ",") != "info,deploy" {
		t.Errorf("row = %+v", r)
	}
}

func TestInfo_UnreachableNodeFailsNamingIt(t *testing.T) {
	down := closedAddr(t)
	inv := inventory(t, []string{"node1", "node2"}, map[string]string{"node1": serve(t, &fakeAgent{name: "node1"}), "node2": down})
	code, out, errs := run(t, "-i", inv, "info")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, errs)
	}
	hasLine(t, "info", out, "node1", "ok")
	hasLine(t, "info", out, "node2", down, "UNREACHABLE")
	contains(t, "stderr", errs, "labcontroller: 1 of 2 nodes unreachable:\n  node2: cannot reach agent at "+down+": ",
		"connection refused (is labagent running and listening there?)")
}
