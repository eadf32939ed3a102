package e2e

// Deploy tests about what stays apart: agents sharing an engine, secrets,
// refused requests, and the image's own health check.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/labfleet/labfleet/internal/labtest"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func TestDeploy_TwoAgentsOnOneEngineStayApart(t *testing.T) {
	t.Parallel()
	v1, v2 := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v2", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	nodeA, nodeB := labtest.NodeName(t, "twoA"), labtest.NodeName(t, "twoB")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: nodeA})
	b := labtest.StartAgent(t, labtest.AgentOptions{Name: nodeB})
	ca, cb := a.Client(t), b.Client(t)

	labtest.Deploy(t, ca, labtest.WebDeploy("web", v1, "v1", "a-web-1", appPort, 30*time.Second)).MustSucceed(t, "deploy web on A")
	labtest.Deploy(t, ca, labtest.WebDeploy("api", v1, "v1", "a-api-1", appPort+1, 30*time.Second)).MustSucceed(t, "deploy api on A")
	bWeb := labtest.Deploy(t, cb, labtest.WebDeploy("web", v1, "v1", "b-web-1", appPort, 30*time.Second)).MustSucceed(t, "deploy web on B")
	before := labtest.Inspect(t, cli, bWeb.GetContainerId())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listA, err := ca.ListApps(ctx, &agentv1.ListAppsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	listB, err := cb.ListApps(ctx, &agentv1.ListAppsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	describe := func(l *agentv1.ListAppsResponse, node string) []string {
		var out []string
		for _, app := range l.GetApps() {
			if app.GetNode() != node {
				t.Errorf("ListApps on %s reports node %s", node, app.GetNode())
			}
			out = append(out, app.GetName()+"@"+app.GetContainerId())
		}
		return out
	}
	aWeb := labtest.GetApp(t, ca, "web")
	if got := describe(listA, nodeA); len(got) != 2 || got[0] != "api@"+labtest.GetApp(t, ca, "api").GetContainerId() || got[1] != "web@"+aWeb.GetContainerId() {
		t.Errorf("ListApps on A: want api and web of A, got %v", got)
	}
	if got := describe(listB, nodeB); !slices.Equal(got, []string{"web@" + bWeb.GetContainerId()}) {
		t.Errorf("ListApps on B: want only B's web %s, got %v", bWeb.GetContainerId(), got)
	}

	// Changes on A, including the sweeps before each deploy, leave B alone.
	labtest.Deploy(t, ca, labtest.WebDeploy("web", v2, "v2", "a-web-2", appPort, 30*time.Second)).MustSucceed(t, "deploy v2 on A")
	labtest.WantServing(t, a, appPort, "v2")
	labtest.Rollback(t, ca, &agentv1.RollbackRequest{App: "web", DeployId: "a-web-rollback"}).MustSucceed(t, "rollback on A")
	labtest.WantServing(t, a, appPort, "v1")

	after := labtest.Inspect(t, cli, bWeb.GetContainerId())
	if !after.State.Running || after.State.StartedAt != before.State.StartedAt || after.RestartCount != 0 {
		t.Errorf("B's container was disturbed by A: running %v, started %s then %s", after.State.Running, before.State.StartedAt, after.State.StartedAt)
	}
	labtest.WantServing(t, b, appPort, "v1")
	labtest.WantOneRunning(t, cli, nodeB, "web", bWeb.GetContainerId())
	if n := len(labtest.AppContainers(t, cli, nodeB, "web")); n != 1 {
		t.Errorf("B's web should have one container: %v", labtest.ContainerStates(t, cli, nodeB, "web"))
	}
	if got := labtest.HistoryIDs(labtest.History(t, cb, "")); !slices.Equal(got, []string{"b-web-1:DEPLOY_OUTCOME_SUCCEEDED"}) {
		t.Errorf("B's history holds A's deploys: %v", got)
	}
	if _, err := cb.GetApp(ctx, &agentv1.GetAppRequest{App: "api"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetApp api on B (only A has it): want NotFound, got %v", err)
	}
}

func TestDeploy_SecretEnvReachesContainerOnly(t *testing.T) {
	t.Parallel()
	v1, bad := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v3", labtest.ModeNeverHealthy)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "secret")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)
	secret := "SuperSecret-" + randomHex(8)

	req := labtest.WebDeploy("web", v1, "v1", "deploy-1", appPort, 30*time.Second)
	req.Spec.Env = map[string]string{"GREETING": "hello"}
	req.Spec.SecretEnv = map[string]string{"DB_PASSWORD": secret}
	ok := labtest.Deploy(t, c, req)
	r1 := ok.MustSucceed(t, "deploy with a secret")
	// The failure path (log tail, revert messages) must keep it out too.
	req = labtest.WebDeploy("web", bad, "v3", "deploy-2", appPort, 4*time.Second)
	req.Spec.SecretEnv = map[string]string{"DB_PASSWORD": secret}
	failRun := labtest.Deploy(t, c, req)
	if failRun.Result.GetOutcome() != outcomeFailed {
		t.Fatalf("never-healthy deploy with a secret: want FAILED, got:\n%s", failRun)
	}
	replay := labtest.Deploy(t, c, req)

	ci := labtest.Inspect(t, cli, r1.GetContainerId())
	if !slices.Contains(ci.Config.Env, "DB_PASSWORD="+secret) || !slices.Contains(ci.Config.Env, "GREETING=hello") {
		t.Errorf("the container lacks its environment: %d variables", len(ci.Config.Env))
	}
	for k, v := range ci.Config.Labels {
		if strings.Contains(v, secret) {
			t.Errorf("container label %s carries the secret", k)
		}
	}

	leaks := map[string]string{"agent log": a.Log()}
	for i, run := range []labtest.DeployRun{ok, failRun, replay} {
		leaks[fmt.Sprintf("deploy %d events and result", i+1)] = strings.Join(run.Messages(), "\n") + protojson.Format(run.Result)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := c.GetHistory(ctx, &agentv1.GetHistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	leaks["GetHistory"] = protojson.Format(h)
	apps, err := c.ListApps(ctx, &agentv1.ListAppsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	leaks["ListApps"] = protojson.Format(apps)
	_ = filepath.WalkDir(a.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			leaks["state file "+p] = string(b)
		}
		return nil
	})
	for where, text := range leaks {
		if strings.Contains(text, secret) {
			t.Errorf("the secret value appears in the %s", where)
		}
	}
	if len(h.GetEntries()) != 2 {
		t.Errorf("history: want 2 entries, got %v", labtest.HistoryIDs(h.GetEntries()))
	}
}

func TestDeploy_InvalidRequestsAreRefused(t *testing.T) {
	t.Parallel()
	v1, v2 := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v2", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "invalid")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)

	startFirst := labtest.WebDeploy("web", v1, "v1", "", appPort, 30*time.Second)
	startFirst.Strategy = agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST
	labtest.WantCode(t, "start-first with a fixed host port", labtest.Deploy(t, c, startFirst).Err, codes.InvalidArgument, "start-first", "8000")

	ownLabel := labtest.WebDeploy("web", v1, "v1", "", appPort, 30*time.Second)
	ownLabel.Spec.Labels = map[string]string{"labfleet.node": "someone-else"}
	labtest.WantCode(t, "a labfleet.* user label", labtest.Deploy(t, c, ownLabel).Err, codes.InvalidArgument, "labfleet.node")

	badName := labtest.WebDeploy("Web_App", v1, "v1", "", appPort, 30*time.Second)
	labtest.WantCode(t, "a bad app name", labtest.Deploy(t, c, badName).Err, codes.InvalidArgument, "app")

	labtest.WantCode(t, "rollback of an unknown app", labtest.Rollback(t, c, &agentv1.RollbackRequest{App: "web"}).Err, codes.NotFound, "web")

	if n := len(labtest.AppContainers(t, cli, node, "web")); n != 0 {
		t.Errorf("refused requests created containers: %v", labtest.ContainerStates(t, cli, node, "web"))
	}
	if h := labtest.History(t, c, ""); len(h) != 0 {
		t.Errorf("refused requests were recorded: %v", labtest.HistoryIDs(h))
	}
	// Start-first without fixed host ports is fine.
	ok := labtest.WebDeploy("web", v1, "v1", "start-first", 0, 30*time.Second)
	ok.Strategy = agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST
	labtest.Deploy(t, c, ok).MustSucceed(t, "start-first with an engine-picked port")
	app := labtest.GetApp(t, c, "web")
	if len(app.GetPorts()) != 1 || app.GetPorts()[0].GetHostPort() == 0 {
		t.Fatalf("GetApp should report the picked host port: %v", app.GetPorts())
	}
	labtest.WantServing(t, a, app.GetPorts()[0].GetHostPort(), "v1")

	// The next start-first deploy runs beside v1 and stops it after the gate.
	next := labtest.WebDeploy("web", v2, "v2", "start-first-2", 0, 30*time.Second)
	next.Strategy = agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST
	run := labtest.Deploy(t, c, next)
	r2 := run.MustSucceed(t, "a second start-first deploy")
	run.WantPhases(t, "start-first", agentv1.DeployPhase_DEPLOY_PHASE_START, agentv1.DeployPhase_DEPLOY_PHASE_HEALTH,
		agentv1.DeployPhase_DEPLOY_PHASE_STOP_OLD, agentv1.DeployPhase_DEPLOY_PHASE_RECORD)
	labtest.WantOneRunning(t, cli, node, "web", r2.GetContainerId())
	app = labtest.GetApp(t, c, "web")
	if app.GetVersion() != "v2" || len(app.GetPorts()) != 1 {
		t.Fatalf("GetApp after the second start-first deploy:\n%s", protojson.Format(app))
	}
	labtest.WantServing(t, a, app.GetPorts()[0].GetHostPort(), "v2")
}

func TestDeploy_DockerHealthcheckGate(t *testing.T) {
	t.Parallel()
	good := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1", DockerHealthcheck: true})
	bad := labtest.BuildImage(t, labtest.ImageOptions{Version: "v2", Mode: labtest.ModeNeverHealthy, DockerHealthcheck: true})
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "dockerhc")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)

	// No health check in the request: the image's HEALTHCHECK is the gate.
	req := labtest.WebDeploy("web", good, "v1", "deploy-1", appPort, 0)
	req.Health = &agentv1.HealthCheck{Timeout: durationpb.New(30 * time.Second)}
	run := labtest.Deploy(t, c, req)
	r1 := run.MustSucceed(t, "deploy with the image's HEALTHCHECK")
	if !strings.Contains(strings.Join(run.Messages(), "\n"), "HEALTHCHECK healthy") {
		t.Errorf("the gate should have waited for the HEALTHCHECK:\n%s", run)
	}
	if h := labtest.Inspect(t, cli, r1.GetContainerId()).State.Health; h == nil || h.Status != "healthy" {
		t.Errorf("the engine does not report the container healthy: %+v", h)
	}
	if app := labtest.GetApp(t, c, "web"); app.GetHealth() != agentv1.AppHealth_APP_HEALTH_HEALTHY {
		t.Errorf("GetApp health %s, want HEALTHY", app.GetHealth())
	}
	labtest.WantServing(t, a, appPort, "v1")

	req = labtest.WebDeploy("web", bad, "v2", "deploy-2", appPort, 0)
	req.Health = &agentv1.HealthCheck{Timeout: durationpb.New(30 * time.Second)}
	run = labtest.Deploy(t, c, req)
	if run.Err != nil || run.Result.GetOutcome() != outcomeFailed || !strings.Contains(run.Result.GetMessage(), "HEALTHCHECK") {
		t.Fatalf("an image whose HEALTHCHECK fails: want FAILED naming the HEALTHCHECK, got:\n%s", run)
	}
	labtest.WantServing(t, a, appPort, "v1")
	labtest.WantOneRunning(t, cli, node, "web", r1.GetContainerId())
}
