package cli_test

import (
	"encoding/json"
	"testing"
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
