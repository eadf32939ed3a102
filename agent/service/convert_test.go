package service

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/labfleet/labfleet/agent/deploy"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

var (
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(4500 * time.Millisecond)
)

func TestAppPB_RunningContainer(t *testing.T) {
	s := &Service{NodeName: "node1"}
	got := s.appPB(deploy.App{
		Name: "todo", Health: "healthy", RetainedVersions: []string{"v1", "v0"},
		Container: &deploy.Container{
			ID: "c1", Name: "node1-todo-ab12cd34", Image: "registry.example:5000/todo:v2", ImageID: "sha256:local",
			Labels: map[string]string{deploy.LabelVersion: "v2", deploy.LabelDeployID: "20260301T120000Z-1", deploy.LabelDigest: "sha256:remote",
				"team": "ops"},
			State: "running", Running: true, RestartCount: 2, ExitCode: 137, StartedAt: t0,
			Ports: []deploy.PortBinding{{HostIP: "127.0.0.1", HostPort: 8000, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 0, ContainerPort: 53, Protocol: "udp"}},
		},
	})
	want := &agentv1.App{
		Name: "todo", Node: "node1", ContainerId: "c1", ContainerName: "node1-todo-ab12cd34", Image: "registry.example:5000/todo:v2",
		ImageDigest: "sha256:remote", Version: "v2", DeployId: "20260301T120000Z-1", State: "running",
		Health: agentv1.AppHealth_APP_HEALTH_HEALTHY, RestartCount: 2, StartedAt: timestamppb.New(t0), LastExitCode: 137,
		Ports:            []*agentv1.PortMapping{{HostPort: 8000, ContainerPort: 80, Protocol: "tcp"}, {ContainerPort: 53, Protocol: "udp"}},
		RetainedVersions: []string{"v1", "v0"},
	}
	if !proto.Equal(got, want) {
		t.Errorf("appPB\n got: %v\nwant: %v", got, want)
	}
}

func TestAppPB_DigestFallsBackToImageIDAndZeroStartIsUnset(t *testing.T) {
	got := (&Service{NodeName: "node2"}).appPB(deploy.App{Name: "todo", Health: "stopped",
		Container: &deploy.Container{ID: "c1", ImageID: "sha256:local", State: "exited"}})
	if got.GetImageDigest() != "sha256:local" {
		t.Errorf("digest = %q, want the local image ID", got.GetImageDigest())
	}
	if got.StartedAt != nil {
		t.Errorf("StartedAt = %v for a container never started, want unset", got.StartedAt)
	}
	if got.GetVersion() != "" || got.GetDeployId() != "" {
		t.Errorf("version %q, deploy id %q from a container without labels", got.GetVersion(), got.GetDeployId())
	}
}

func TestAppPB_NoContainer(t *testing.T) {
	got := (&Service{NodeName: "node1"}).appPB(deploy.App{Name: "todo", Health: "stopped", RetainedVersions: []string{"v1"}})
	want := &agentv1.App{Name: "todo", Node: "node1", Health: agentv1.AppHealth_APP_HEALTH_STOPPED, RetainedVersions: []string{"v1"}}
	if !proto.Equal(got, want) {
		t.Errorf("appPB = %v, want %v", got, want)
	}
}

func TestAppPB_HealthWords(t *testing.T) {
	for word, want := range map[string]agentv1.AppHealth{
		"healthy": agentv1.AppHealth_APP_HEALTH_HEALTHY, "unhealthy": agentv1.AppHealth_APP_HEALTH_UNHEALTHY,
		"starting": agentv1.AppHealth_APP_HEALTH_STARTING, "none": agentv1.AppHealth_APP_HEALTH_NONE,
		"stopped": agentv1.AppHealth_APP_HEALTH_STOPPED, "": agentv1.AppHealth_APP_HEALTH_UNSPECIFIED,
		"restarting": agentv1.AppHealth_APP_HEALTH_UNSPECIFIED,
	} {
		if got := (&Service{}).appPB(deploy.App{Health: word}).GetHealth(); got != want {
			t.Errorf("health %q -> %v, want %v", word, got, want)
		}
	}
}

func TestResultPB_CarriesEveryField(t *testing.T) {
	got := resultPB(deploy.Result{
		DeployID: "d1", App: "todo", Kind: deploy.KindDeploy, Outcome: deploy.Failed, Version: "v2", Image: "todo:v2",
		ImageDigest: "sha256:abc", ContainerID: "c0", PreviousVersion: "v1", Message: "health failed: container exited",
		FailedPhase: deploy.PhaseHealth, LogTail: []string{"panic: no DB", "exit 3"}, Caller: "cert:ci",
		StartedAt: t0, FinishedAt: t1, Duration: t1.Sub(t0), Replayed: true,
	})
	want := &agentv1.DeployResult{
		DeployId: "d1", App: "todo", Kind: agentv1.DeployKind_DEPLOY_KIND_DEPLOY, Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED,
		Version: "v2", Image: "todo:v2", ImageDigest: "sha256:abc", ContainerId: "c0", PreviousVersion: "v1",
		Message: "health failed: container exited", FailedPhase: agentv1.DeployPhase_DEPLOY_PHASE_HEALTH,
		LogTail: []string{"panic: no DB", "exit 3"}, Caller: "cert:ci", StartedAt: timestamppb.New(t0), FinishedAt: timestamppb.New(t1),
		Duration: durationpb.New(4500 * time.Millisecond), Replayed: true,
	}
	if !proto.Equal(got, want) {
		t.Errorf("resultPB\n got: %v\nwant: %v", got, want)
	}
}

func TestResultPB_ZeroTimesAreUnset(t *testing.T) {
	got := resultPB(deploy.Result{DeployID: "d1", Outcome: deploy.Interrupted})
	if got.StartedAt != nil || got.FinishedAt != nil {
		t.Errorf("zero times became %v and %v, want unset", got.StartedAt, got.FinishedAt)
	}
	if got.GetDuration().AsDuration() != 0 || got.GetReplayed() || got.GetLogTail() != nil {
		t.Errorf("zero result = %v", got)
	}
	if got.GetFailedPhase() != agentv1.DeployPhase_DEPLOY_PHASE_UNSPECIFIED {
		t.Errorf("failed phase = %v", got.GetFailedPhase())
	}
}

func TestEventPB(t *testing.T) {
	got := eventPB(deploy.Event{Time: t0, Phase: deploy.PhasePull, Message: "Downloading", Current: 512, Total: 2048})
	want := &agentv1.DeployEvent{Time: timestamppb.New(t0), Phase: agentv1.DeployPhase_DEPLOY_PHASE_PULL, Message: "Downloading",
		CurrentBytes: 512, TotalBytes: 2048}
	if !proto.Equal(got, want) {
		t.Errorf("eventPB = %v, want %v", got, want)
	}
}

func TestDeployRequest_FromPB(t *testing.T) {
	req := &agentv1.DeployRequest{
		App: "todo", Image: "registry.example:5000/todo:v2", DeployId: "d1", Version: "v2", DryRun: true,
		Strategy: agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST, PullPolicy: agentv1.PullPolicy_PULL_POLICY_NEVER,
		Spec: &agentv1.ContainerSpec{
			Ports:     []*agentv1.PortMapping{{HostPort: 8000, ContainerPort: 80, Protocol: "tcp"}},
			Env:       map[string]string{"DB_HOST": "127.0.0.1"},
			SecretEnv: map[string]string{"DB_PASSWORD": "s3cret"},
			Mounts: []*agentv1.Mount{{Source: "/srv/todo", Target: "/data", ReadOnly: true, Type: agentv1.MountType_MOUNT_TYPE_BIND},
				{Source: "todo-cache", Target: "/cache", Type: agentv1.MountType_MOUNT_TYPE_VOLUME}},
			StopTimeout: durationpb.New(20 * time.Second), Cpus: 0.5, MemoryBytes: 256 << 20, RestartPolicy: "always",
		},
		Health: &agentv1.HealthCheck{Type: agentv1.HealthCheckType_HEALTH_CHECK_TYPE_HTTP, HttpPath: "/healthz", HttpPort: 80,
			Timeout: durationpb.New(30 * time.Second), Interval: durationpb.New(2 * time.Second)},
		RegistryAuth: &agentv1.RegistryAuth{Username: "ci", Password: "token", ServerAddress: "registry.example:5000"},
	}
	r, err := deployRequest(req, "cert:ci")
	if err != nil {
		t.Fatal(err)
	}
	if r.App != "todo" || r.DeployID != "d1" || r.Version != "v2" || !r.DryRun || !r.StartFirst || r.Pull != deploy.PullNever || r.Caller != "cert:ci" {
		t.Errorf("request = %+v", r)
	}
	if r.Health != (deploy.Health{Type: deploy.HealthHTTP, Path: "/healthz", Port: 80, Timeout: 30 * time.Second, Interval: 2 * time.Second}) {
		t.Errorf("health = %+v", r.Health)
	}
	if len(r.Spec.Ports) != 1 || r.Spec.Ports[0] != (deploy.Port{HostPort: 8000, ContainerPort: 80, Protocol: "tcp"}) {
		t.Errorf("ports = %+v", r.Spec.Ports)
	}
	wantMounts := []deploy.Mount{{Source: "/srv/todo", Target: "/data", ReadOnly: true}, {Source: "todo-cache", Target: "/cache", Volume: true}}
	if len(r.Spec.Mounts) != 2 || r.Spec.Mounts[0] != wantMounts[0] || r.Spec.Mounts[1] != wantMounts[1] {
		t.Errorf("mounts = %+v, want %+v", r.Spec.Mounts, wantMounts)
	}
	if r.Spec.SecretEnv["DB_PASSWORD"] != "s3cret" || r.Spec.Env["DB_HOST"] != "127.0.0.1" || r.Spec.StopTimeout != 20*time.Second ||
		r.Spec.CPUs != 0.5 || r.Spec.MemoryBytes != 256<<20 || r.Spec.RestartPolicy != "always" {
		t.Errorf("spec = %+v", r.Spec)
	}
	if r.Auth == nil || *r.Auth != (deploy.RegistryAuth{Username: "ci", Password: "token", Server: "registry.example:5000"}) {
		t.Errorf("auth = %+v", r.Auth)
	}
}

func TestDeployRequest_NoUserNoAuth(t *testing.T) {
	r, err := deployRequest(&agentv1.DeployRequest{App: "todo", Image: "todo:v1", RegistryAuth: &agentv1.RegistryAuth{Password: "x"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Auth != nil {
		t.Errorf("auth = %+v without a user name, want none", r.Auth)
	}
	if r.Health.Type != deploy.HealthAuto || r.StartFirst || r.Pull != deploy.PullDefault {
		t.Errorf("defaults = %+v", r)
	}
}

func TestDeployRequest_UnknownEnumRefused(t *testing.T) {
	tests := []struct {
		field string
		req   *agentv1.DeployRequest
	}{
		{"pull_policy", &agentv1.DeployRequest{PullPolicy: 42}},
		{"strategy", &agentv1.DeployRequest{Strategy: 42}},
		{"health.type", &agentv1.DeployRequest{Health: &agentv1.HealthCheck{Type: 42}}},
		{"spec.mounts[1].type", &agentv1.DeployRequest{Spec: &agentv1.ContainerSpec{Mounts: []*agentv1.Mount{{}, {Type: 42}}}}},
	}
	for _, tt := range tests {
		_, err := deployRequest(tt.req, "")
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: code = %v, want InvalidArgument", tt.field, status.Code(err))
		}
		if want := "invalid " + tt.field + ": value 42"; !strings.HasPrefix(status.Convert(err).Message(), want) {
			t.Errorf("%s: message %q does not start with %q", tt.field, status.Convert(err).Message(), want)
		}
	}
}
