package cli_test

import (
	"regexp"
	"testing"
)

func TestRollback_ToThePreviousVersion(t *testing.T) {
	a1, a2 := &fakeAgent{name: "node1", running: "v2", previous: "v1"}, &fakeAgent{name: "node2", running: "v2", previous: "v1"}
	inv := fleet(t, a1, a2)
	code, out, errs := run(t, "-i", inv, "rollback", "--app", "todo", "--deploy-id", "rb-1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q\n%s", code, errs, out)
	}
	for _, a := range []*fakeAgent{a1, a2} {
		d, r := a.calls()
		if len(d) != 0 || len(r) != 1 || r[0].GetApp() != "todo" || r[0].GetVersion() != "" || r[0].GetDeployId() != "rb-1" {
			t.Errorf("%s got deploys %v, rollbacks %v", a.name, d, r)
		}
		if !regexp.MustCompile(`\[` + a.name + ` +[0-9.]+s\] stop-old +stopping version v2`).MatchString(out) {
			t.Errorf("no stop-old event for %s:\n%s", a.name, out)
		}
		contains(t, "stdout", out, "    "+a.name+": SUCCEEDED: todo is now version v1")
		hasLine(t, "summary", out, a.name, "succeeded", "v1", "v2", "rb-1")
	}
}

func TestRollback_ToANamedVersionOnOneNode(t *testing.T) {
	a1, a2 := &fakeAgent{name: "node1", running: "v3", previous: "v2"}, &fakeAgent{name: "node2", running: "v3", previous: "v2"}
	inv := fleet(t, a1, a2)
	code, out, errs := run(t, "-i", inv, "--limit", "node2", "rollback", "--app", "todo", "--version", "v1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if _, r := a1.calls(); len(r) != 0 {
		t.Errorf("node1 is outside --limit but got %v", r)
	}
	if _, r := a2.calls(); len(r) != 1 || r[0].GetVersion() != "v1" {
		t.Errorf("node2 got %v", r)
	}
	hasLine(t, "summary", out, "node2", "succeeded", "v1", "v3")
}

func TestRollback_FailureExits1(t *testing.T) {
	inv := fleet(t, &fakeAgent{name: "node1", running: "v2", previous: "v1", fail: true})
	code, out, errs := run(t, "-i", inv, "rollback", "--app", "todo")
	if code != 1 || errs != "labcontroller: todo failed on node1; node1 runs v2\n" {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	hasLine(t, "summary", out, "node1", "failed", "v2", "v2")
}
