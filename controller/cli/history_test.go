package cli_test

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func historyAgent(name string) *fakeAgent {
	at := timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return &fakeAgent{name: name, history: []*agentv1.DeployResult{
		{DeployId: "20260301T120000Z-b", App: "todo", Kind: agentv1.DeployKind_DEPLOY_KIND_ROLLBACK, Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED,
			Version: "v1", PreviousVersion: "v2", Caller: "cert:labcontroller", FinishedAt: at, Duration: durationpb.New(2340 * time.Millisecond)},
		{DeployId: "20260301T110000Z-a", App: "todo", Kind: agentv1.DeployKind_DEPLOY_KIND_DEPLOY, Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED,
			Version: "v3", PreviousVersion: "v2", FinishedAt: at, Duration: durationpb.New(61 * time.Second)},
	}}
}

func TestHistory_Table(t *testing.T) {
	inv := fleet(t, historyAgent("node1"), historyAgent("node2"))
	code, out, errs := run(t, "-i", inv, "history", "--app", "todo", "-n", "5")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	hasLine(t, "history", out, "NODE", "FINISHED", "APP", "KIND", "RESULT", "VERSION", "PREVIOUS", "CALLER", "TOOK", "DEPLOY", "ID")
	for _, n := range []string{"node1", "node2"} {
		hasLine(t, "history", out, n, "todo", "rollback", "succeeded", "v1", "v2", "cert:labcontroller", "2.3s", "20260301T120000Z-b")
		hasLine(t, "history", out, n, "todo", "deploy", "failed", "v3", "v2", "-", "1m1s", "20260301T110000Z-a")
	}
}

func TestHistory_JSON(t *testing.T) {
	inv := fleet(t, historyAgent("node1"))
	code, out, errs := run(t, "-i", inv, "-o", "json", "history")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var rows []struct {
		Node    string
		Entries []struct {
			DeployID string `json:"deploy_id"`
			Version  string
		}
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if len(rows) != 1 || rows[0].Node != "node1" || len(rows[0].Entries) != 2 ||
		rows[0].Entries[0].DeployID != "20260301T120000Z-b" || rows[0].Entries[1].Version != "v3" {
		t.Errorf("rows = %+v", rows)
	}
}

func TestHistory_UnreachableNodeFails(t *testing.T) {
	down := closedAddr(t)
	inv := inventory(t, []string{"node1", "node2"}, map[string]string{"node1": serve(t, historyAgent("node1")), "node2": down})
	code, out, errs := run(t, "-i", inv, "history")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	hasLine(t, "history", out, "node1", "todo", "rollback")
	contains(t, "stderr", errs, "labcontroller: node2: cannot reach agent at "+down)
}
