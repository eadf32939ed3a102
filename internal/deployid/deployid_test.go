package deployid_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/deployid"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func TestNew_FormatSortsByTimeAndPassesValidation(t *testing.T) {
	now := time.Date(2026, 12, 2, 18, 44, 37, 0, time.FixedZone("CET", 3600))
	re := regexp.MustCompile(`^20261202T174437Z-[0-9a-f]{8}$`)
	a, b := deployid.New("", now), deployid.New("", now)
	if !re.MatchString(a) {
		t.Fatalf("New = %q, want UTC time and 8 hex digits", a)
	}
	if a == b {
		t.Fatalf("two ids in the same second are equal: %q", a)
	}
	later := deployid.New("", now.Add(time.Second))
	if later <= a[:len(a)-9]+"-ffffffff" {
		t.Fatalf("id %q made later does not sort after %q", later, a)
	}
	p := deployid.New("ansible", now)
	if !regexp.MustCompile(`^ansible-20261202T174437Z-[0-9a-f]{8}$`).MatchString(p) {
		t.Fatalf("New with prefix = %q", p)
	}
	req := &agentv1.DeployRequest{App: "todo", Image: "todo:v1", DeployId: p}
	if err := req.Validate(); err != nil {
		t.Fatalf("the agent would refuse id %q: %v", p, err)
	}
}
