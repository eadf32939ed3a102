package service

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// numbers lists every value of a proto enum, from its descriptor.
func numbers(d protoreflect.EnumDescriptor) []protoreflect.EnumNumber {
	var out []protoreflect.EnumNumber
	for i := range d.Values().Len() {
		out = append(out, d.Values().Get(i).Number())
	}
	return out
}

// checkFromPB: every value of the proto enum has an entry, and distinct
// values that mean different things map to distinct domain values.
func checkFromPB[P ~int32, D comparable](t *testing.T, name string, d protoreflect.EnumDescriptor, m map[P]D, same ...[2]P) {
	t.Helper()
	alias := map[P]P{}
	for _, s := range same {
		alias[s[1]] = s[0]
	}
	seen := map[D]P{}
	for _, n := range numbers(d) {
		v, ok := m[P(n)]
		if !ok {
			t.Errorf("%s: proto value %s has no domain value", name, d.Values().ByNumber(n).Name())
			continue
		}
		if prev, dup := seen[v]; dup && alias[P(n)] != prev {
			t.Errorf("%s: %s and %s map to the same domain value %v", name, d.Values().ByNumber(protoreflect.EnumNumber(prev)).Name(), d.Values().ByNumber(n).Name(), v)
		}
		seen[v] = P(n)
	}
	if len(m) != d.Values().Len() {
		t.Errorf("%s: map has %d entries, the proto enum %d values", name, len(m), d.Values().Len())
	}
}

func TestEnums_EveryProtoRequestValueIsMapped(t *testing.T) {
	checkFromPB(t, "pull policy", agentv1.PullPolicy(0).Descriptor(), pullFromPB)
	checkFromPB(t, "health type", agentv1.HealthCheckType(0).Descriptor(), healthTypeFromPB)
	checkFromPB(t, "strategy", agentv1.DeployStrategy(0).Descriptor(), startFirstFromPB,
		[2]agentv1.DeployStrategy{agentv1.DeployStrategy_DEPLOY_STRATEGY_UNSPECIFIED, agentv1.DeployStrategy_DEPLOY_STRATEGY_STOP_FIRST})
	checkFromPB(t, "mount type", agentv1.MountType(0).Descriptor(), volumeFromPB,
		[2]agentv1.MountType{agentv1.MountType_MOUNT_TYPE_UNSPECIFIED, agentv1.MountType_MOUNT_TYPE_BIND})
	if pullFromPB[agentv1.PullPolicy_PULL_POLICY_NEVER] != deploy.PullNever || healthTypeFromPB[agentv1.HealthCheckType_HEALTH_CHECK_TYPE_DOCKER] != deploy.HealthDocker {
		t.Error("a request enum maps to the wrong engine value")
	}
}

// checkToPB: every engine value (those with a name) maps to a distinct
// proto value, every proto value is reached, and the names people read
// agree on both sides, so a reordered engine constant cannot relabel
// history.
func checkToPB[D ~int, P ~int32](t *testing.T, name string, d protoreflect.EnumDescriptor, m map[D]P, domainName func(D) string, pbName func(P) string) {
	t.Helper()
	reached := map[P]bool{}
	for v := D(0); v < 64; v++ {
		if v != 0 && domainName(v) == "unknown" {
			continue // not an engine value
		}
		p, ok := m[v]
		if !ok {
			t.Errorf("%s: engine value %d (%q) has no proto value", name, v, domainName(v))
			continue
		}
		if reached[p] {
			t.Errorf("%s: two engine values map to %v", name, p)
		}
		reached[p] = true
		if domainName(v) != pbName(p) {
			t.Errorf("%s: engine value %q maps to proto %s, named %q", name, domainName(v), d.Values().ByNumber(protoreflect.EnumNumber(p)).Name(), pbName(p))
		}
	}
	for _, n := range numbers(d) {
		if !reached[P(n)] {
			t.Errorf("%s: proto value %s is never sent", name, d.Values().ByNumber(n).Name())
		}
	}
}

func TestEnums_EveryEngineValueIsMappedByName(t *testing.T) {
	checkToPB(t, "phase", agentv1.DeployPhase(0).Descriptor(), phasePB, deploy.Phase.String, deployreq.PhaseName)
	checkToPB(t, "outcome", agentv1.DeployOutcome(0).Descriptor(), outcomePB, deploy.Outcome.String, deployreq.OutcomeName)
	checkToPB(t, "kind", agentv1.DeployKind(0).Descriptor(), kindPB, deploy.Kind.String, deployreq.KindName)
}

func TestEnums_AppHealthWords(t *testing.T) {
	for word, h := range healthPB {
		if deployreq.HealthName(h) != word {
			t.Errorf("engine health %q maps to %v, named %q", word, h, deployreq.HealthName(h))
		}
	}
	for _, n := range numbers(agentv1.AppHealth(0).Descriptor()) {
		if n == 0 {
			continue
		}
		if _, ok := healthPB[deployreq.HealthName(agentv1.AppHealth(n))]; !ok {
			t.Errorf("AppHealth %d is never sent", n)
		}
	}
}

func TestDeployRequest_RefusesAnEnumValueFromANewerClient(t *testing.T) {
	for name, req := range map[string]*agentv1.DeployRequest{
		"pull":     {App: "todo", Image: "todo:v1", PullPolicy: 42},
		"strategy": {App: "todo", Image: "todo:v1", Strategy: 42},
		"health":   {App: "todo", Image: "todo:v1", Health: &agentv1.HealthCheck{Type: 42}},
		"mount":    {App: "todo", Image: "todo:v1", Spec: &agentv1.ContainerSpec{Mounts: []*agentv1.Mount{{Source: "a", Target: "/a", Type: 42}}}},
	} {
		_, err := deployRequest(req, "test")
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: err = %v, want InvalidArgument", name, err)
		}
	}
	r, err := deployRequest(&agentv1.DeployRequest{App: "todo", Image: "todo:v1", PullPolicy: agentv1.PullPolicy_PULL_POLICY_NEVER,
		Strategy: agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST,
		Spec:     &agentv1.ContainerSpec{Mounts: []*agentv1.Mount{{Source: "data", Target: "/data", Type: agentv1.MountType_MOUNT_TYPE_VOLUME}}}}, "ci")
	if err != nil || r.Pull != deploy.PullNever || !r.StartFirst || !r.Spec.Mounts[0].Volume || r.Caller != "ci" {
		t.Fatalf("deployRequest = %+v, %v", r, err)
	}
}
