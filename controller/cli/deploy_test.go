package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

const secret = "hunter2-s3cret-value"

// deployArgs deploys todo:v2 with a secret from the environment.
func deployArgs(t *testing.T, inv string, extra ...string) []string {
	t.Setenv("DB_PASSWORD", secret)
	return append([]string{"-i", inv, "deploy", "--app", "todo", "--image", "registry.example:5000/todo:v2",
		"--env", "DB_HOST=127.0.0.1", "--secret-env", "DB_PASSWORD", "--health", "none"}, extra...)
}

func TestDeploy_RollsAcrossNodes(t *testing.T) {
	a1, a2 := &fakeAgent{name: "node1", running: "v1"}, &fakeAgent{name: "node2", running: "v1"}
	inv := fleet(t, a1, a2)
	code, out, errs := run(t, deployArgs(t, inv, "--deploy-id", "rel-42")...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q\n%s", code, errs, out)
	}
	// Progress: one node at a time, phases as deployreq.PhaseName spells them.
	if i1, i2 := strings.Index(out, "==> node1: deploy"), strings.Index(out, "==> node2: deploy"); i1 < 0 || i2 < i1 {
		t.Errorf("node1 is not deployed before node2:\n%s", out)
	}
	for _, n := range []string{"node1", "node2"} {
		for _, phase := range []string{"lock", "pull", "create", "stop-old", "start", "health", "record"} {
			if !regexp.MustCompile(`\[` + n + ` +[0-9.]+s\] ` + phase + ` +\S`).MatchString(out) {
				t.Errorf("no %s event line for %s:\n%s", phase, n, out)
			}
		}
		contains(t, "stdout", out, "    "+n+": SUCCEEDED: todo is now version v2")
		hasLine(t, "summary", out, n, "succeeded", "v2", "v1", "rel-42")
	}
	hasLine(t, "summary", out, "NODE", "RESULT", "RUNNING", "PREVIOUS", "DEPLOY", "ID", "TOOK")
	if errs != "" {
		t.Errorf("stderr = %q", errs)
	}
	for _, a := range []*fakeAgent{a1, a2} {
		d, _ := a.calls()
		if len(d) != 1 {
			t.Fatalf("%s got %d deploys", a.name, len(d))
		}
		r := d[0]
		if r.GetApp() != "todo" || r.GetImage() != "registry.example:5000/todo:v2" || r.GetDeployId() != "rel-42" || r.GetDryRun() ||
			r.GetSpec().GetEnv()["DB_HOST"] != "127.0.0.1" || r.GetSpec().GetSecretEnv()["DB_PASSWORD"] != secret {
			t.Errorf("%s got request %v", a.name, r)
		}
	}
}

func TestDeploy_SecretNeverPrinted(t *testing.T) {
	// These agents echo the secret in events, results and log lines, as a
	// buggy agent might; labcontroller must mask it everywhere.
	ok, bad := &fakeAgent{name: "node1", running: "v1", echo: " " + secret}, &fakeAgent{name: "node2", running: "v1", echo: " " + secret, fail: true}
	inv := fleet(t, ok, bad)
	for _, format := range []string{"table", "json"} {
		code, out, errs := run(t, deployArgs(t, inv, "-o", format)...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", format, code)
		}
		if strings.Contains(out+errs, secret) {
			t.Errorf("%s: the secret appears in the output:\n%s\n%s", format, out, errs)
		}
		contains(t, format+" output", out, "***")
	}
}

func TestDeploy_FailingNodeStopsTheRolloutAndReverts(t *testing.T) {
	a1, a2, a3 := &fakeAgent{name: "node1", running: "v1"}, &fakeAgent{name: "node2", running: "v1", fail: true}, &fakeAgent{name: "node3", running: "v1"}
	inv := fleet(t, a1, a2, a3)
	code, out, errs := run(t, deployArgs(t, inv, "--deploy-id", "rel-43")...)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, errs)
	}
	if errs != "labcontroller: todo failed on node2; node1 runs v1, node2 runs v1, node3 runs -\n" {
		t.Errorf("stderr = %q", errs)
	}
	contains(t, "stdout", out, "    node2: FAILED: health failed: container exited with code 3; version v1 is serving again",
		"    last log lines of the failed container:\n      | panic: cannot reach the database\n", "==> node1: revert to v1")
	if !regexp.MustCompile(`\[node2 +[0-9.]+s\] revert +starting version v1 again`).MatchString(out) {
		t.Errorf("no revert event for node2:\n%s", out)
	}
	hasLine(t, "summary", out, "node1", "reverted", "v1", "v1", "rel-43")
	hasLine(t, "summary", out, "node2", "failed", "v1", "v1", "rel-43")
	hasLine(t, "summary", out, "node3", "not", "touched")

	if d, r := a3.calls(); len(d)+len(r) != 0 {
		t.Errorf("node3 was called after node2 failed: %v %v", d, r)
	}
	if _, r := a1.calls(); len(r) != 1 || r[0].GetVersion() != "v1" || r[0].GetDeployId() != "rel-43-revert" || r[0].GetApp() != "todo" {
		t.Errorf("node1 revert requests = %v", r)
	}
	if _, r := a2.calls(); len(r) != 0 {
		t.Errorf("the failed node was rolled back too (its agent already put v1 back): %v", r)
	}
}

func TestDeploy_NoAutoRevertKeepsTheNewVersion(t *testing.T) {
	a1 := &fakeAgent{name: "node1", running: "v1"}
	inv := fleet(t, a1, &fakeAgent{name: "node2", running: "v1", fail: true})
	code, _, errs := run(t, deployArgs(t, inv, "--no-auto-revert")...)
	if code != 1 || errs != "labcontroller: todo failed on node2; node1 runs v2, node2 runs v1\n" {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	if _, r := a1.calls(); len(r) != 0 {
		t.Errorf("node1 was rolled back despite --no-auto-revert: %v", r)
	}
}

func TestDeploy_DryRunChangesNothing(t *testing.T) {
	a1, a2 := &fakeAgent{name: "node1", running: "v1"}, &fakeAgent{name: "node2", running: "v2"}
	inv := fleet(t, a1, a2)
	code, out, errs := run(t, deployArgs(t, inv, "--dry-run", "--deploy-id", "plan-1")...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q\n%s", code, errs, out)
	}
	contains(t, "stdout", out, "Plan for todo -> registry.example:5000/todo:v2, deploy id plan-1 (nothing is changed):")
	hasLine(t, "plan", out, "node1", "v1", "change:", "v1", "->", "v2", "would", "replace")
	hasLine(t, "plan", out, "node2", "v2", "nothing", "already", "runs")
	for _, a := range []*fakeAgent{a1, a2} {
		d, _ := a.calls()
		if len(d) != 1 || !d[0].GetDryRun() {
			t.Errorf("%s got %v, want one dry-run request", a.name, d)
		}
		if a.running != map[string]string{"node1": "v1", "node2": "v2"}[a.name] {
			t.Errorf("%s changed to %s", a.name, a.running)
		}
	}
}

// With -o json stdout is the JSON summary alone, for jq and CI steps: the
// progress lines go to stderr, and the results name their enums.
func TestDeploy_JSONSummary(t *testing.T) {
	inv := fleet(t, &fakeAgent{name: "node1", running: "v1"})
	code, out, errs := run(t, deployArgs(t, inv, "-o", "json", "--deploy-id", "rel-44")...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var rows []struct {
		Node, Result, Running string
		Deploy                struct {
			DeployID        string `json:"deploy_id"`
			Version         string
			PreviousVersion string `json:"previous_version"`
			Kind, Outcome   string
			FailedPhase     string `json:"failed_phase"`
		}
		TookSeconds float64 `json:"took_seconds"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if len(rows) != 1 || rows[0].Node != "node1" || rows[0].Result != "succeeded" || rows[0].Running != "v2" ||
		rows[0].Deploy.DeployID != "rel-44" || rows[0].Deploy.PreviousVersion != "v1" || rows[0].TookSeconds <= 0 ||
		rows[0].Deploy.Kind != "deploy" || rows[0].Deploy.Outcome != "succeeded" || rows[0].Deploy.FailedPhase != "" {
		t.Errorf("rows = %+v", rows)
	}
	contains(t, "stderr", errs, "==> node1: deploy", "] pull ", "    node1: SUCCEEDED: todo is now version v2")
}

func TestRollback_JSONNamesEnums(t *testing.T) {
	inv := fleet(t, &fakeAgent{name: "node1", running: "v2", previous: "v1", fail: true})
	code, out, errs := run(t, "-i", inv, "-o", "json", "rollback", "--app", "todo")
	if code != 1 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{`"kind": "rollback"`, `"outcome": "failed"`, `"failed_phase": "health"`, `"result": "failed"`} {
		if !strings.Contains(out, want) {
			t.Errorf("JSON lacks %s:\n%s", want, out)
		}
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
}

// A dry run prints what the agents say with the secrets masked, as a real
// deploy does, and honours -o json.
func TestDeploy_DryRunMasksSecretsAndSpeaksJSON(t *testing.T) {
	a1 := &fakeAgent{name: "node1", running: "v1", echo: " " + secret}
	a2 := &fakeAgent{name: "node2", running: "v2"}
	inv := fleet(t, a1, a2)
	code, out, errs := run(t, deployArgs(t, inv, "--dry-run", "--deploy-id", "plan-2")...)
	if code != 0 || strings.Contains(out+errs, secret) {
		t.Fatalf("table: exit %d, the secret shows:\n%s%s", code, out, errs)
	}
	hasLine(t, "plan", out, "node1", "v1", "change:", "v1", "->", "v2", "would", "replace", "***")

	code, out, errs = run(t, deployArgs(t, inv, "--dry-run", "--deploy-id", "plan-3", "-o", "json")...)
	if code != 0 || strings.Contains(out+errs, secret) {
		t.Fatalf("json: exit %d, the secret shows:\n%s%s", code, out, errs)
	}
	var plan struct {
		App, Image string
		DeployID   string `json:"deploy_id"`
		Nodes      []struct {
			Node, Outcome, Version, Message string
			PreviousVersion                 string `json:"previous_version"`
		}
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if plan.App != "todo" || plan.DeployID != "plan-3" || len(plan.Nodes) != 2 ||
		plan.Nodes[0].Node != "node1" || plan.Nodes[0].Outcome != "would-change" || plan.Nodes[0].PreviousVersion != "v1" ||
		!strings.HasSuffix(plan.Nodes[0].Message, " ***") || plan.Nodes[1].Outcome != "unchanged" {
		t.Errorf("plan = %+v", plan)
	}
	for _, a := range []*fakeAgent{a1, a2} {
		if d, _ := a.calls(); len(d) != 2 || !d[0].GetDryRun() || !d[1].GetDryRun() {
			t.Errorf("%s got %v, want two dry runs", a.name, d)
		}
	}
}

// An agent that stops talking mid-deploy is given up after --idle-timeout:
// exit 1 naming the node and the step, and the rollout goes no further.
func TestDeploy_SilentAgentIsGivenUp(t *testing.T) {
	a1 := &fakeAgent{name: "node1", running: "v1", hangAfter: agentv1.DeployPhase_DEPLOY_PHASE_STOP_OLD}
	a2 := &fakeAgent{name: "node2", running: "v1"}
	inv := fleet(t, a1, a2)
	start := time.Now()
	code, out, errs := run(t, deployArgs(t, inv, "--idle-timeout", "300ms")...)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q\n%s", code, errs, out)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("gave up after %s", took)
	}
	want := "labcontroller: todo failed on node1: node1 sent nothing for 300ms while stopping the old container; it may be hung: check labagent on node1 ("
	if !strings.HasPrefix(errs, want) || !strings.HasSuffix(errs, "; node1 runs -, node2 runs -\n") {
		t.Errorf("stderr = %q\nwant it to start with %q", errs, want)
	}
	contains(t, "stdout", out, "    node1: ERROR: node1 sent nothing for 300ms while stopping the old container")
	hasLine(t, "summary", out, "node2", "not", "touched")
	if d, _ := a2.calls(); len(d) != 0 {
		t.Errorf("node2 was deployed after node1 went silent: %v", d)
	}
}

// The health gate is silent for as long as the agent announced; that is
// not a hang.
func TestDeploy_AnnouncedHealthGateIsNotSilence(t *testing.T) {
	a := &fakeAgent{name: "node1", running: "v1", gateDelay: 600 * time.Millisecond}
	inv := fleet(t, a)
	code, out, errs := run(t, deployArgs(t, inv, "--idle-timeout", "300ms")...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q\n%s", code, errs, out)
	}
}

func TestRollback_SilentAgentIsGivenUp(t *testing.T) {
	inv := fleet(t, &fakeAgent{name: "node1", running: "v2", previous: "v1", hangAfter: agentv1.DeployPhase_DEPLOY_PHASE_LOCK})
	code, _, errs := run(t, "-i", inv, "rollback", "--app", "todo", "--idle-timeout", "200ms")
	if code != 1 || !strings.Contains(errs, "node1 sent nothing for 200ms after taking the app's lock; it may be hung: check labagent on node1") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}
