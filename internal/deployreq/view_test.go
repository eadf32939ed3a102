package deployreq_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// JSON of a result names its enums: encoding the proto message itself
// gives "outcome": 2, which no reader of -o json can use.
func TestView_JSONNamesEnums(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := &agentv1.DeployResult{DeployId: "rel-1", App: "todo", Kind: agentv1.DeployKind_DEPLOY_KIND_ROLLBACK,
		Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED, FailedPhase: agentv1.DeployPhase_DEPLOY_PHASE_HEALTH,
		Version: "v1", PreviousVersion: "v2", LogTail: []string{"panic"}, FinishedAt: timestamppb.New(at), Duration: durationpb.New(1500 * time.Millisecond)}
	b, err := json.Marshal(deployreq.View(r))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"rollback"`, `"outcome":"failed"`, `"failed_phase":"health"`, `"deploy_id":"rel-1"`,
		`"previous_version":"v2"`, `"finished_at":"2026-03-01T12:00:00Z"`, `"duration_seconds":1.5`, `"log_tail":["panic"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), `"started_at"`) {
		t.Errorf("an unset time is in the JSON: %s", b)
	}
	if deployreq.View(nil) != nil || len(deployreq.Views([]*agentv1.DeployResult{r, nil})) != 2 {
		t.Error("View(nil) or Views is wrong")
	}
}
