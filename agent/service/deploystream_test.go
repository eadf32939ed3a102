package service

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// deployReq deploys image as todo, version from its tag, with a fixed port
// and no health check (the fake's containers pass that gate at once).
func deployReq(id, image string) *agentv1.DeployRequest {
	return &agentv1.DeployRequest{App: "todo", Image: image, DeployId: id,
		Spec:   &agentv1.ContainerSpec{Ports: []*agentv1.PortMapping{{HostPort: 8000, ContainerPort: 80, Protocol: "tcp"}}},
		Health: &agentv1.HealthCheck{Type: agentv1.HealthCheckType_HEALTH_CHECK_TYPE_NONE}}
}

// checkResult checks what every result of a finished run must hold.
func checkResult(t *testing.T, s stream, id string, kind agentv1.DeployKind, outcome agentv1.DeployOutcome, version, previous string) {
	t.Helper()
	if s.err != nil {
		t.Fatalf("stream error: %v", s.err)
	}
	r := s.result
	if r == nil {
		t.Fatalf("stream ended without a result after %d events", len(s.events))
	}
	if s.afterResult != 0 {
		t.Errorf("%d messages after the result, want none", s.afterResult)
	}
	if r.GetDeployId() != id || r.GetApp() != "todo" || r.GetKind() != kind || r.GetOutcome() != outcome ||
		r.GetVersion() != version || r.GetPreviousVersion() != previous || r.GetCaller() != testCaller {
		t.Errorf("result = %v\nwant id %s kind %v outcome %v version %q previous %q caller %s", r, id, kind, outcome, version, previous, testCaller)
	}
	// The duration is measured on the monotonic clock, the times on the wall clock.
	if d := r.GetFinishedAt().AsTime().Sub(r.GetStartedAt().AsTime()) - r.GetDuration().AsDuration(); r.StartedAt == nil || r.FinishedAt == nil ||
		r.GetDuration().AsDuration() <= 0 || d > time.Millisecond || d < -time.Millisecond {
		t.Errorf("times: started %v finished %v duration %v", r.GetStartedAt(), r.GetFinishedAt(), r.GetDuration())
	}
	for i, ev := range s.events {
		if ev.Time == nil || ev.GetMessage() == "" {
			t.Errorf("event %d has no time or message: %v", i, ev)
		}
	}
}

// inOrder reports whether want appears in got in this order (not
// necessarily next to each other).
func inOrder(got []string, want ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestDeploy_StreamsEventsThenOneResult(t *testing.T) {
	rt := newFakeRuntime("todo:v1", "todo:v2")
	c := serve(t, deployService(t, rt))

	first := runDeploy(t, c, deployReq("d1", "todo:v1"))
	checkResult(t, first, "d1", agentv1.DeployKind_DEPLOY_KIND_DEPLOY, agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED, "v1", "")
	ph := first.phases()
	if !inOrder(ph, "lock", "pull", "create", "start", "health", "prune", "record") || ph[0] != "lock" || ph[len(ph)-1] != "record" {
		t.Errorf("phases = %q", ph)
	}
	if slices.Contains(ph, "stop-old") {
		t.Errorf("first deploy stopped an old container: %q", ph)
	}
	if !slices.ContainsFunc(first.events, func(ev *agentv1.DeployEvent) bool { return ev.GetTotalBytes() == 10 && ev.GetCurrentBytes() == 10 }) {
		t.Error("no pull progress event with its byte counts")
	}
	if got := first.result.GetMessage(); got != "todo is now version v1" {
		t.Errorf("message = %q", got)
	}

	second := runDeploy(t, c, deployReq("d2", "todo:v2"))
	checkResult(t, second, "d2", agentv1.DeployKind_DEPLOY_KIND_DEPLOY, agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED, "v2", "v1")
	if ph := second.phases(); !inOrder(ph, "lock", "create", "stop-old", "start", "health", "record") {
		t.Errorf("phases = %q, want the old container stopped before the new one starts", ph)
	}
	if second.result.GetContainerId() == first.result.GetContainerId() || second.result.GetContainerId() == "" {
		t.Errorf("container ids %q then %q", first.result.GetContainerId(), second.result.GetContainerId())
	}

	again := runDeploy(t, c, deployReq("d2", "todo:v2"))
	if len(again.events) != 0 || !again.result.GetReplayed() || again.result.GetOutcome() != agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED ||
		again.result.GetVersion() != "v2" {
		t.Errorf("re-sent id: %d events, result %v; want only the recorded result, replayed", len(again.events), again.result)
	}
}

func TestDeploy_FailedHealthGateIsAResultWithLogTail(t *testing.T) {
	rt := newFakeRuntime("todo:v1", "todo:v2")
	rt.crashes["todo:v2"] = true
	rt.logs = []string{"connecting to 127.0.0.1:3306", "panic: no database"}
	c := serve(t, deployService(t, rt))
	checkResult(t, runDeploy(t, c, deployReq("d1", "todo:v1")), "d1", agentv1.DeployKind_DEPLOY_KIND_DEPLOY, agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED, "v1", "")

	s := runDeploy(t, c, deployReq("d2", "todo:v2"))
	checkResult(t, s, "d2", agentv1.DeployKind_DEPLOY_KIND_DEPLOY, agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED, "v2", "v1")
	r := s.result
	if r.GetFailedPhase() != agentv1.DeployPhase_DEPLOY_PHASE_HEALTH || !slices.Equal(r.GetLogTail(), rt.logs) {
		t.Errorf("failed phase %v, log tail %q", r.GetFailedPhase(), r.GetLogTail())
	}
	for _, want := range []string{"health failed: container exited with code 3", "version v1 is serving again"} {
		if !strings.Contains(r.GetMessage(), want) {
			t.Errorf("message %q does not contain %q", r.GetMessage(), want)
		}
	}
	if !inOrder(s.phases(), "stop-old", "start", "health", "revert", "record") {
		t.Errorf("phases = %q", s.phases())
	}
	app, err := c.GetApp(context.Background(), &agentv1.GetAppRequest{App: "todo"})
	if err != nil || app.GetApp().GetVersion() != "v1" || app.GetApp().GetState() != "running" {
		t.Errorf("after the failed deploy GetApp = %v, %v; want v1 running", app, err)
	}
}

func TestDeploy_DryRunChangesNothing(t *testing.T) {
	rt := newFakeRuntime("todo:v1", "todo:v2")
	c := serve(t, deployService(t, rt))
	runDeploy(t, c, deployReq("d1", "todo:v1"))

	req := deployReq("d2", "todo:v2")
	req.DryRun = true
	s := runDeploy(t, c, req)
	if s.err != nil || len(s.events) != 0 || s.result == nil {
		t.Fatalf("dry run: err %v, %d events, result %v", s.err, len(s.events), s.result)
	}
	if r := s.result; r.GetOutcome() != agentv1.DeployOutcome_DEPLOY_OUTCOME_WOULD_CHANGE || r.GetPreviousVersion() != "v1" || r.GetVersion() != "v2" ||
		!strings.Contains(r.GetMessage(), "would pull todo:v2") {
		t.Errorf("dry run result = %v", r)
	}
	h, err := c.GetHistory(context.Background(), &agentv1.GetHistoryRequest{})
	if err != nil || len(h.GetEntries()) != 1 {
		t.Errorf("history after a dry run = %v, %v; want the one real deploy", h, err)
	}
	if len(rt.containers) != 1 || len(rt.images) != 1 {
		t.Errorf("dry run touched the engine: %d containers, %d images", len(rt.containers), len(rt.images))
	}
}

func TestRollback_StreamsAndStatusFollows(t *testing.T) {
	rt := newFakeRuntime("todo:v1", "todo:v2")
	c := serve(t, deployService(t, rt))
	ctx := context.Background()
	runDeploy(t, c, deployReq("d1", "todo:v1"))
	runDeploy(t, c, deployReq("d2", "todo:v2"))

	s := runRollback(t, c, &agentv1.RollbackRequest{App: "todo", DeployId: "d3"})
	checkResult(t, s, "d3", agentv1.DeployKind_DEPLOY_KIND_ROLLBACK, agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED, "v1", "v2")
	if !inOrder(s.phases(), "lock", "stop-old", "start", "health", "record") {
		t.Errorf("phases = %q", s.phases())
	}

	got, err := c.GetApp(ctx, &agentv1.GetAppRequest{App: "todo"})
	if err != nil {
		t.Fatal(err)
	}
	a := got.GetApp()
	if a.GetName() != "todo" || a.GetNode() != "node1" || a.GetVersion() != "v1" || a.GetDeployId() != "d1" || a.GetState() != "running" ||
		a.GetHealth() != agentv1.AppHealth_APP_HEALTH_NONE || !slices.Equal(a.GetRetainedVersions(), []string{"v2"}) || a.GetImage() != "todo:v1" {
		t.Errorf("GetApp = %v", a)
	}
	if p := a.GetPorts(); len(p) != 1 || p[0].GetHostPort() != 8000 || p[0].GetContainerPort() != 80 || p[0].GetProtocol() != "tcp" {
		t.Errorf("ports = %v", p)
	}
	list, err := c.ListApps(ctx, &agentv1.ListAppsRequest{})
	if err != nil || len(list.GetApps()) != 1 || list.GetApps()[0].GetVersion() != "v1" {
		t.Errorf("ListApps = %v, %v", list, err)
	}

	h, err := c.GetHistory(ctx, &agentv1.GetHistoryRequest{App: "todo"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range h.GetEntries() {
		ids = append(ids, e.GetDeployId())
	}
	if !slices.Equal(ids, []string{"d3", "d2", "d1"}) || h.GetEntries()[0].GetKind() != agentv1.DeployKind_DEPLOY_KIND_ROLLBACK {
		t.Errorf("history ids = %q (newest first), first %v", ids, h.GetEntries()[0])
	}
	if h, _ := c.GetHistory(ctx, &agentv1.GetHistoryRequest{Limit: 1}); len(h.GetEntries()) != 1 || h.GetEntries()[0].GetDeployId() != "d3" {
		t.Errorf("history limit 1 = %v", h)
	}
}

func TestDeploy_DomainErrorsBecomeCodes(t *testing.T) {
	rt := newFakeRuntime("todo:v1")
	c := serve(t, deployService(t, rt))
	ctx := context.Background()
	deployErr := func(req *agentv1.DeployRequest) error { return runDeploy(t, c, req).err }
	rollbackErr := func(req *agentv1.RollbackRequest) error { return runRollback(t, c, req).err }

	_, err := c.GetApp(ctx, &agentv1.GetAppRequest{App: "todo"})
	wantCode(t, "GetApp of no app", err, codes.NotFound, `no app "todo" on node node1`)
	wantCode(t, "Rollback of no app", rollbackErr(&agentv1.RollbackRequest{App: "todo", DeployId: "r0"}), codes.NotFound, `no app "todo" on node node1`)

	sf := deployReq("d0", "todo:v1")
	sf.Strategy = agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST
	wantCode(t, "start-first with a host port", deployErr(sf), codes.InvalidArgument, "start-first needs the old and new containers side by side")
	lbl := deployReq("d0", "todo:v1")
	lbl.Spec.Labels = map[string]string{"labfleet.app": "x"}
	wantCode(t, "own label", deployErr(lbl), codes.InvalidArgument, `label "labfleet.app"`)
	bad := deployReq("d0", "todo:v1")
	bad.PullPolicy = 7
	wantCode(t, "unknown pull policy", deployErr(bad), codes.InvalidArgument, "invalid pull_policy: value 7")

	runDeploy(t, c, deployReq("d1", "todo:v1"))
	wantCode(t, "nothing retained", rollbackErr(&agentv1.RollbackRequest{App: "todo", DeployId: "r1"}), codes.NotFound, "an earlier version of todo is not retained on node1 (retained: none)")
	other := deployReq("d1", "todo:v1")
	other.App = "api"
	wantCode(t, "deploy id reused", deployErr(other), codes.InvalidArgument, "deploy id d1 was already used for app todo")

	rt.mu.Lock()
	rt.down = true
	rt.mu.Unlock()
	wantCode(t, "engine down: Deploy", deployErr(deployReq("d2", "todo:v1")), codes.Unavailable, "cannot connect to the Docker daemon")
	_, err = c.ListApps(ctx, &agentv1.ListAppsRequest{})
	wantCode(t, "engine down: ListApps", err, codes.Unavailable, "container engine unavailable")
}

func TestDeploy_SecondDeployOfALockedAppIsAborted(t *testing.T) {
	rt := newFakeRuntime("todo:latest")
	rt.pulling, rt.release = make(chan string, 1), make(chan struct{})
	c := serve(t, deployService(t, rt))

	st, err := c.Deploy(context.Background(), deployReq("d1", "todo:latest")) // :latest is always pulled
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan stream, 1)
	go func() { done <- readStream(st.Recv) }()
	select {
	case <-rt.pulling:
	case <-time.After(5 * time.Second):
		t.Fatal("the first deploy never started pulling")
	}
	wantCode(t, "second deploy", runDeploy(t, c, deployReq("d2", "todo:latest")).err, codes.Aborted, "todo is being changed by deploy d1 (caller "+testCaller)
	close(rt.release)
	select {
	case s := <-done:
		checkResult(t, s, "d1", agentv1.DeployKind_DEPLOY_KIND_DEPLOY, agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED, s.result.GetVersion(), "")
	case <-time.After(5 * time.Second):
		t.Fatal("the first deploy did not finish")
	}
}
