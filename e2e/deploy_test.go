package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/labfleet/labfleet/internal/labtest"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

const (
	outcomeSucceeded   = agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED
	outcomeFailed      = agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED
	outcomeUnchanged   = agentv1.DeployOutcome_DEPLOY_OUTCOME_UNCHANGED
	outcomeInterrupted = agentv1.DeployOutcome_DEPLOY_OUTCOME_INTERRUPTED
)

// Every test agent has its own publish IP, so each test publishes the test
// app on a fixed host port without colliding with the others.
const appPort = labtest.AppPort

// testImage builds (once per process) a test image variant.
func testImage(t *testing.T, version, mode string) string {
	t.Helper()
	return labtest.BuildImage(t, labtest.ImageOptions{Version: version, Mode: mode})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestDeploy_V1ThenV2_ServesReportsAndRecords(t *testing.T) {
	t.Parallel()
	v1, v2 := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v2", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "v1v2")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)

	run1 := labtest.Deploy(t, c, labtest.WebDeploy("web", v1, "v1", "deploy-1", appPort, 30*time.Second))
	r1 := run1.MustSucceed(t, "deploy v1")
	if r1.GetVersion() != "v1" || r1.GetPreviousVersion() != "" || r1.GetDeployId() != "deploy-1" || r1.GetContainerId() == "" ||
		r1.GetKind() != agentv1.DeployKind_DEPLOY_KIND_DEPLOY || r1.GetCaller() != "loopback" || r1.GetImage() != v1 {
		t.Errorf("deploy v1 result fields:\n%s", protojson.Format(r1))
	}
	run1.WantPhases(t, "deploy v1", agentv1.DeployPhase_DEPLOY_PHASE_LOCK, agentv1.DeployPhase_DEPLOY_PHASE_PULL,
		agentv1.DeployPhase_DEPLOY_PHASE_CREATE, agentv1.DeployPhase_DEPLOY_PHASE_START, agentv1.DeployPhase_DEPLOY_PHASE_HEALTH,
		agentv1.DeployPhase_DEPLOY_PHASE_RECORD)
	labtest.WantServing(t, a, appPort, "v1")
	labtest.WantOneRunning(t, cli, node, "web", r1.GetContainerId())

	run2 := labtest.Deploy(t, c, labtest.WebDeploy("web", v2, "v2", "deploy-2", appPort, 30*time.Second))
	r2 := run2.MustSucceed(t, "deploy v2")
	if r2.GetVersion() != "v2" || r2.GetPreviousVersion() != "v1" || r2.GetContainerId() == r1.GetContainerId() {
		t.Errorf("deploy v2 result fields:\n%s", protojson.Format(r2))
	}
	run2.WantPhases(t, "deploy v2", agentv1.DeployPhase_DEPLOY_PHASE_LOCK, agentv1.DeployPhase_DEPLOY_PHASE_CREATE,
		agentv1.DeployPhase_DEPLOY_PHASE_STOP_OLD, agentv1.DeployPhase_DEPLOY_PHASE_START, agentv1.DeployPhase_DEPLOY_PHASE_HEALTH,
		agentv1.DeployPhase_DEPLOY_PHASE_RECORD)
	labtest.WantServing(t, a, appPort, "v2")
	labtest.WantOneRunning(t, cli, node, "web", r2.GetContainerId())
	if st := labtest.Inspect(t, cli, r1.GetContainerId()).State; st.Running || st.Status != "exited" {
		t.Errorf("the v1 container should be kept stopped for rollback, is %s", st.Status)
	}

	app := labtest.GetApp(t, c, "web")
	ci := labtest.Inspect(t, cli, r2.GetContainerId())
	switch {
	case app.GetName() != "web" || app.GetNode() != node || app.GetVersion() != "v2" || app.GetDeployId() != "deploy-2":
		t.Errorf("GetApp identity:\n%s", protojson.Format(app))
	case app.GetContainerId() != r2.GetContainerId() || app.GetImage() != v2 || app.GetImageDigest() != r2.GetImageDigest():
		t.Errorf("GetApp container (want %s, digest %s):\n%s", r2.GetContainerId(), r2.GetImageDigest(), protojson.Format(app))
	case app.GetState() != "running" || app.GetHealth() != agentv1.AppHealth_APP_HEALTH_HEALTHY:
		t.Errorf("GetApp state/health:\n%s", protojson.Format(app))
	case app.GetStartedAt() == nil || app.GetStartedAt().AsTime().Format(time.RFC3339Nano) != mustParse(t, ci.State.StartedAt).Format(time.RFC3339Nano):
		t.Errorf("GetApp started_at %v, the engine says %s", app.GetStartedAt().AsTime(), ci.State.StartedAt)
	case !slices.Equal(app.GetRetainedVersions(), []string{"v1"}):
		t.Errorf("GetApp retained_versions %v, want [v1]", app.GetRetainedVersions())
	case len(app.GetPorts()) != 1 || app.GetPorts()[0].GetHostPort() != appPort || app.GetPorts()[0].GetContainerPort() != appPort:
		t.Errorf("GetApp ports %v", app.GetPorts())
	}

	h := labtest.History(t, c, "web")
	if got := labtest.HistoryIDs(h); !slices.Equal(got, []string{"deploy-2:DEPLOY_OUTCOME_SUCCEEDED", "deploy-1:DEPLOY_OUTCOME_SUCCEEDED"}) {
		t.Fatalf("history, newest first: got %v", got)
	}
	for _, e := range h {
		if e.GetCaller() != "loopback" || e.GetDuration().AsDuration() <= 0 || e.GetStartedAt() == nil || e.GetFinishedAt() == nil ||
			e.GetKind() != agentv1.DeployKind_DEPLOY_KIND_DEPLOY || e.GetReplayed() {
			t.Errorf("history entry fields:\n%s", protojson.Format(e))
		}
	}
	if h[0].GetVersion() != "v2" || h[1].GetVersion() != "v1" || h[0].GetContainerId() != r2.GetContainerId() {
		t.Errorf("history entries do not match the results:\n%s\n%s", protojson.Format(h[0]), protojson.Format(h[1]))
	}
}

func mustParse(t *testing.T, ts string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t.Fatalf("engine timestamp %q: %v", ts, err)
	}
	return v.UTC()
}

func TestDeploy_NeverHealthyIsRevertedAndOldKeepsServing(t *testing.T) {
	t.Parallel()
	v1, bad := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v3", labtest.ModeNeverHealthy)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "never")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)
	r1 := labtest.Deploy(t, c, labtest.WebDeploy("web", v1, "v1", "deploy-1", appPort, 30*time.Second)).MustSucceed(t, "deploy v1")

	run := labtest.Deploy(t, c, labtest.WebDeploy("web", bad, "v3", "deploy-3", appPort, 5*time.Second))
	res := run.Result
	if run.Err != nil || res.GetOutcome() != outcomeFailed || res.GetFailedPhase() != agentv1.DeployPhase_DEPLOY_PHASE_HEALTH {
		t.Fatalf("never-healthy v3: want FAILED in phase HEALTH, got:\n%s", run)
	}
	for _, want := range []string{"not healthy within", "/healthz", "503", "v1"} {
		if !strings.Contains(res.GetMessage(), want) {
			t.Errorf("the failure message does not mention %q: %s", want, res.GetMessage())
		}
	}
	if len(res.GetLogTail()) == 0 || !strings.Contains(strings.Join(res.GetLogTail(), "\n"), "version v3") {
		t.Errorf("log_tail should hold the failed container's output, got %q", res.GetLogTail())
	}
	if res.GetPreviousVersion() != "v1" || res.GetContainerId() != r1.GetContainerId() {
		t.Errorf("a failed deploy should name v1 and its container as what runs now:\n%s", protojson.Format(res))
	}
	run.WantPhases(t, "never-healthy v3", agentv1.DeployPhase_DEPLOY_PHASE_STOP_OLD, agentv1.DeployPhase_DEPLOY_PHASE_HEALTH,
		agentv1.DeployPhase_DEPLOY_PHASE_REVERT, agentv1.DeployPhase_DEPLOY_PHASE_RECORD)

	labtest.WantServing(t, a, appPort, "v1")
	labtest.WantOneRunning(t, cli, node, "web", r1.GetContainerId())
	if n := len(labtest.AppContainers(t, cli, node, "web")); n != 1 {
		t.Errorf("the failed v3 container should be removed: %d containers remain (%v)", n, labtest.ContainerStates(t, cli, node, "web"))
	}
	app := labtest.GetApp(t, c, "web")
	if app.GetVersion() != "v1" || app.GetHealth() != agentv1.AppHealth_APP_HEALTH_HEALTHY || len(app.GetRetainedVersions()) != 0 {
		t.Errorf("GetApp after the failed deploy:\n%s", protojson.Format(app))
	}
	h := labtest.History(t, c, "web")
	if len(h) != 2 || h[0].GetDeployId() != "deploy-3" || h[0].GetOutcome() != outcomeFailed ||
		h[0].GetFailedPhase() != agentv1.DeployPhase_DEPLOY_PHASE_HEALTH || len(h[0].GetLogTail()) == 0 {
		t.Errorf("history should record the failure first: %v", labtest.HistoryIDs(h))
	}
}

func TestDeploy_ExitAtStartFailsWithLogTail(t *testing.T) {
	t.Parallel()
	v1, bad := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v2", labtest.ModeExit)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "exit")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)
	r1 := labtest.Deploy(t, c, labtest.WebDeploy("web", v1, "v1", "deploy-1", appPort, 30*time.Second)).MustSucceed(t, "deploy v1")

	// A generous gate: a container that exits must fail it at once, not
	// by running out the clock.
	run := labtest.Deploy(t, c, labtest.WebDeploy("web", bad, "v2", "deploy-2", appPort, 60*time.Second))
	res := run.Result
	if run.Err != nil || res.GetOutcome() != outcomeFailed || res.GetFailedPhase() != agentv1.DeployPhase_DEPLOY_PHASE_HEALTH {
		t.Fatalf("exit-at-start v2: want FAILED in phase HEALTH, got:\n%s", run)
	}
	if strings.Contains(res.GetMessage(), "not healthy within") || (!strings.Contains(res.GetMessage(), "exited") && !strings.Contains(res.GetMessage(), "restarted")) {
		t.Errorf("the failure should say the container exited, not that the gate timed out: %s", res.GetMessage())
	}
	// The app only ever exits with code 3. (Docker resets State.ExitCode to
	// 0 while a restarted container runs again; passing that on would send
	// an operator looking for a clean exit.)
	for _, m := range regexp.MustCompile(`code (\d+)`).FindAllStringSubmatch(res.GetMessage(), -1) {
		if m[1] != "3" {
			t.Errorf("the failure names exit code %s, but the container only ever exits with 3: %s", m[1], res.GetMessage())
		}
	}
	if !strings.Contains(strings.Join(res.GetLogTail(), "\n"), "refusing to start") {
		t.Errorf("log_tail lacks the container's last words: %q", res.GetLogTail())
	}
	labtest.WantServing(t, a, appPort, "v1")
	labtest.WantOneRunning(t, cli, node, "web", r1.GetContainerId())
	if n := len(labtest.AppContainers(t, cli, node, "web")); n != 1 {
		t.Errorf("the failed container should be removed: states %v", labtest.ContainerStates(t, cli, node, "web"))
	}
}

func TestDeploy_ReplayedIDAndSameImageChangeNothing(t *testing.T) {
	t.Parallel()
	v1 := testImage(t, "v1", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "idem")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)
	req := labtest.WebDeploy("web", v1, "v1", "deploy-1", appPort, 30*time.Second)
	req.Spec.Env = map[string]string{"GREETING": "hello"}
	r1 := labtest.Deploy(t, c, req).MustSucceed(t, "deploy v1")
	before := labtest.Inspect(t, cli, r1.GetContainerId())

	replay := labtest.Deploy(t, c, req)
	if replay.Err != nil || !replay.Result.GetReplayed() {
		t.Fatalf("re-sending finished deploy id deploy-1: want a replayed result, got:\n%s", replay)
	}
	got, want := proto.Clone(replay.Result).(*agentv1.DeployResult), proto.Clone(r1).(*agentv1.DeployResult)
	got.Replayed = false
	if !proto.Equal(got, want) {
		t.Errorf("the replayed result differs from the original:\n got %s\nwant %s", protojson.Format(got), protojson.Format(want))
	}

	other := proto.Clone(req).(*agentv1.DeployRequest)
	other.App = "other"
	labtest.WantCode(t, "deploy id deploy-1 again for another app", labtest.Deploy(t, c, other).Err, codes.InvalidArgument, "deploy-1", "web")

	same := proto.Clone(req).(*agentv1.DeployRequest)
	same.DeployId = "deploy-2"
	run := labtest.Deploy(t, c, same)
	if run.Err != nil || run.Result.GetOutcome() != outcomeUnchanged || run.Result.GetContainerId() != r1.GetContainerId() || run.Result.GetVersion() != "v1" {
		t.Fatalf("the same image and settings again: want UNCHANGED on the running container, got:\n%s", run)
	}

	if cs := labtest.AppContainers(t, cli, node, "web"); len(cs) != 1 || cs[0].ID != r1.GetContainerId() {
		t.Fatalf("neither a replay nor an unchanged deploy may create containers: states %v", labtest.ContainerStates(t, cli, node, "web"))
	}
	after := labtest.Inspect(t, cli, r1.GetContainerId())
	if after.State.StartedAt != before.State.StartedAt || after.RestartCount != 0 || !after.State.Running {
		t.Errorf("the running container was restarted: started %s then %s, restarts %d", before.State.StartedAt, after.State.StartedAt, after.RestartCount)
	}
	labtest.WantServing(t, a, appPort, "v1")
	if got := labtest.HistoryIDs(labtest.History(t, c, "web")); !slices.Equal(got, []string{"deploy-2:DEPLOY_OUTCOME_UNCHANGED", "deploy-1:DEPLOY_OUTCOME_SUCCEEDED"}) {
		t.Errorf("history: want the unchanged deploy and the original once each, got %v", got)
	}
}

func TestDeploy_RollbackToPreviousThenByName(t *testing.T) {
	t.Parallel()
	v1, v2 := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v2", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "rollback")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)
	r1 := labtest.Deploy(t, c, labtest.WebDeploy("web", v1, "v1", "deploy-1", appPort, 30*time.Second)).MustSucceed(t, "deploy v1")
	r2 := labtest.Deploy(t, c, labtest.WebDeploy("web", v2, "v2", "deploy-2", appPort, 30*time.Second)).MustSucceed(t, "deploy v2")

	back := labtest.Rollback(t, c, &agentv1.RollbackRequest{App: "web", DeployId: "rollback-1"}).MustSucceed(t, "rollback")
	if back.GetKind() != agentv1.DeployKind_DEPLOY_KIND_ROLLBACK || back.GetVersion() != "v1" || back.GetPreviousVersion() != "v2" ||
		back.GetContainerId() != r1.GetContainerId() || back.GetCaller() != "loopback" {
		t.Errorf("rollback result:\n%s", protojson.Format(back))
	}
	labtest.WantServing(t, a, appPort, "v1")
	labtest.WantOneRunning(t, cli, node, "web", r1.GetContainerId())
	if app := labtest.GetApp(t, c, "web"); app.GetVersion() != "v1" || !slices.Equal(app.GetRetainedVersions(), []string{"v2"}) {
		t.Errorf("GetApp after rollback: version %s, retained %v", app.GetVersion(), app.GetRetainedVersions())
	}

	fwd := labtest.Rollback(t, c, &agentv1.RollbackRequest{App: "web", Version: "v2", DeployId: "rollback-2"}).MustSucceed(t, "rollback to v2")
	if fwd.GetVersion() != "v2" || fwd.GetContainerId() != r2.GetContainerId() {
		t.Errorf("rollback to v2 by name:\n%s", protojson.Format(fwd))
	}
	labtest.WantServing(t, a, appPort, "v2")
	labtest.WantOneRunning(t, cli, node, "web", r2.GetContainerId())

	missing := labtest.Rollback(t, c, &agentv1.RollbackRequest{App: "web", Version: "v9", DeployId: "rollback-3"})
	labtest.WantCode(t, "rollback to a version that is not retained", missing.Err, codes.NotFound, "v9", "retained: v1")
	labtest.WantServing(t, a, appPort, "v2")

	if got := labtest.HistoryIDs(labtest.History(t, c, "web")); !slices.Equal(got, []string{"rollback-2:DEPLOY_OUTCOME_SUCCEEDED",
		"rollback-1:DEPLOY_OUTCOME_SUCCEEDED", "deploy-2:DEPLOY_OUTCOME_SUCCEEDED", "deploy-1:DEPLOY_OUTCOME_SUCCEEDED"}) {
		t.Errorf("history: got %v", got)
	}
	if n := len(labtest.AppContainers(t, cli, node, "web")); n != 2 {
		t.Errorf("rollbacks must reuse the retained containers: states %v", labtest.ContainerStates(t, cli, node, "web"))
	}
}

func TestDeploy_KeepsFiveStoppedVersions(t *testing.T) {
	t.Parallel()
	cli := labtest.Docker(t)
	// Images only this test uses, since pruning removes the oldest one.
	base := testImage(t, "v1", labtest.ModeHealthy)
	var refs, versions []string
	for i := 1; i <= 7; i++ {
		versions = append(versions, fmt.Sprintf("keep%d", i))
		refs = append(refs, labtest.VersionImage(t, base, versions[i-1]))
	}
	node := labtest.NodeName(t, "retain")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)
	var last *agentv1.DeployResult
	for i, ref := range refs {
		last = labtest.Deploy(t, c, labtest.WebDeploy("web", ref, versions[i], fmt.Sprintf("deploy-%d", i+1), appPort, 30*time.Second)).MustSucceed(t, "deploy "+versions[i])
	}
	labtest.WantServing(t, a, appPort, versions[6])
	labtest.WantOneRunning(t, cli, node, "web", last.GetContainerId())
	if st := labtest.ContainerStates(t, cli, node, "web"); st["running"] != 1 || st["exited"] != 5 || len(st) != 2 {
		t.Fatalf("want 1 running and 5 stopped containers, got %v", st)
	}
	want := []string{versions[5], versions[4], versions[3], versions[2], versions[1]}
	if got := labtest.GetApp(t, c, "web").GetRetainedVersions(); !slices.Equal(got, want) {
		t.Errorf("retained versions, newest first: got %v, want %v", got, want)
	}
	// The pruned version's image goes with its container; the others stay.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, ref := range refs {
		_, err := cli.ImageInspect(ctx, ref)
		if gone := err != nil; gone != (i == 0) {
			t.Errorf("image of %s: removed %v (%v), want removed only for the pruned %s", versions[i], gone, err, versions[0])
		}
	}
}

func TestDeploy_SameAppTwiceAtOnceIsAborted(t *testing.T) {
	t.Parallel()
	slow := testImage(t, "v1", labtest.ModeSlowStart)
	v2 := testImage(t, "v2", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "lock")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)

	first := labtest.WebDeploy("web", slow, "v1", "first-slow", appPort, 60*time.Second)
	first.Spec.Env = map[string]string{"SLOW_SECONDS": "6"}
	done := labtest.DeployIntoHealthGate(t, c, first)

	second := labtest.Deploy(t, c, labtest.WebDeploy("web", v2, "v2", "second", appPort, 30*time.Second))
	labtest.WantCode(t, "a second deploy of a locked app", second.Err, codes.Aborted, "first-slow")
	if len(second.Events) != 0 {
		t.Errorf("the refused deploy should not report progress:\n%s", second)
	}

	r1 := (<-done).MustSucceed(t, "the slow first deploy")
	labtest.WantServing(t, a, appPort, "v1")
	labtest.WantOneRunning(t, cli, node, "web", r1.GetContainerId())
	if n := len(labtest.AppContainers(t, cli, node, "web")); n != 1 {
		t.Errorf("the refused deploy left containers: %v", labtest.ContainerStates(t, cli, node, "web"))
	}
	if got := labtest.HistoryIDs(labtest.History(t, c, "")); !slices.Equal(got, []string{"first-slow:DEPLOY_OUTCOME_SUCCEEDED"}) {
		t.Errorf("the refused deploy must not be recorded: history %v", got)
	}
	// The lock is released: the same deploy goes through now.
	labtest.Deploy(t, c, labtest.WebDeploy("web", v2, "v2", "second", appPort, 30*time.Second)).MustSucceed(t, "the second deploy, retried")
	labtest.WantServing(t, a, appPort, "v2")
}

func TestDeploy_TwoAppsInParallelBothSucceed(t *testing.T) {
	t.Parallel()
	slow := testImage(t, "v1", labtest.ModeSlowStart)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "par")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)
	apps := map[string]uint32{"alpha": 8001, "beta": 8002}
	runs := make(chan labtest.DeployRun, len(apps))
	for app, port := range apps {
		req := labtest.WebDeploy(app, slow, "v1", "deploy-"+app, port, 60*time.Second)
		req.Spec.Env = map[string]string{"SLOW_SECONDS": "3"}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), labtest.DeployTimeout)
			defer cancel()
			runs <- labtest.StreamDeploy(ctx, c, req, nil)
		}()
	}
	for range apps {
		(<-runs).MustSucceed(t, "a parallel deploy of another app")
	}
	for app, port := range apps {
		labtest.WantServing(t, a, port, "v1")
		labtest.WantOneRunning(t, cli, node, app, "")
	}
}
