package deployreq_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// TestNames_EveryEnumValueHasOneName walks every value of each enum from
// the descriptors, so a value added to the proto without a name here fails.
func TestNames_EveryEnumValueHasOneName(t *testing.T) {
	enums := []struct {
		desc protoreflect.EnumDescriptor
		name func(protoreflect.EnumNumber) string
	}{
		{agentv1.DeployPhase(0).Descriptor(), func(n protoreflect.EnumNumber) string { return deployreq.PhaseName(agentv1.DeployPhase(n)) }},
		{agentv1.DeployOutcome(0).Descriptor(), func(n protoreflect.EnumNumber) string { return deployreq.OutcomeName(agentv1.DeployOutcome(n)) }},
		{agentv1.DeployKind(0).Descriptor(), func(n protoreflect.EnumNumber) string { return deployreq.KindName(agentv1.DeployKind(n)) }},
		{agentv1.AppHealth(0).Descriptor(), func(n protoreflect.EnumNumber) string { return deployreq.HealthName(agentv1.AppHealth(n)) }},
	}
	for _, e := range enums {
		seen := map[string]string{}
		vals := e.desc.Values()
		for i := range vals.Len() {
			v := vals.Get(i)
			got := e.name(v.Number())
			if strings.HasPrefix(got, "unknown(") {
				t.Errorf("%s has no name", v.FullName())
			}
			if prev, dup := seen[got]; dup {
				t.Errorf("%s and %s are both named %q", prev, v.FullName(), got)
			}
			seen[got] = string(v.FullName())
			// The name is the proto value's own words, so it cannot drift to
			// another value's: DEPLOY_PHASE_STOP_OLD is "stop-old".
			words := strings.ToLower(strings.ReplaceAll(string(v.Name()), "_", "-"))
			if v.Number() != 0 && !strings.HasSuffix(words, got) {
				t.Errorf("%s is named %q", v.FullName(), got)
			}
		}
	}
	if got := deployreq.PhaseName(agentv1.DeployPhase(99)); got != "unknown(99)" {
		t.Errorf("an unknown phase is named %q", got)
	}
}

// Every phase has its own words for "node2 sent nothing for 2m0s ...".
func TestPhaseActivity_EveryPhase(t *testing.T) {
	seen := map[string]string{}
	vals := agentv1.DeployPhase(0).Descriptor().Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		got := deployreq.PhaseActivity(agentv1.DeployPhase(v.Number()))
		if strings.HasPrefix(got, "in phase ") {
			t.Errorf("%s has no activity", v.FullName())
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("%s and %s are both %q", prev, v.FullName(), got)
		}
		seen[got] = string(v.FullName())
	}
	if got := deployreq.PhaseActivity(agentv1.DeployPhase_DEPLOY_PHASE_HEALTH); got != "during the health gate" {
		t.Errorf("health = %q", got)
	}
	if got := deployreq.PhaseActivity(agentv1.DeployPhase(99)); got != "in phase unknown(99)" {
		t.Errorf("an unknown phase = %q", got)
	}
}
