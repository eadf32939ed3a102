package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/labfleet/labfleet/internal/labtest"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func TestRegistry_DeployPullsWithCredentialsAndRefusesWrongOnes(t *testing.T) {
	t.Parallel()
	const user, password = "ci", "s3cret-pass"
	reg := labtest.StartRegistry(t, user, password)
	v1 := reg.Push(t, testImage(t, "v1", labtest.ModeHealthy), "web:v1")
	v2 := reg.Push(t, testImage(t, "v2", labtest.ModeHealthy), "web:v2")
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "registry")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)
	withAuth := func(req *agentv1.DeployRequest, pw string) *agentv1.DeployRequest {
		req.RegistryAuth = &agentv1.RegistryAuth{Username: user, Password: pw, ServerAddress: reg.Addr}
		return req
	}

	run := labtest.Deploy(t, c, withAuth(labtest.WebDeploy("web", v1, "v1", "deploy-1", appPort, 30*time.Second), password))
	r1 := run.MustSucceed(t, "deploy v1 from the registry")
	var fromEngine, pulled bool
	for _, e := range run.Events {
		if e.GetPhase() != agentv1.DeployPhase_DEPLOY_PHASE_PULL {
			continue
		}
		switch m := e.GetMessage(); {
		case strings.HasPrefix(m, "pulled "+v1):
			pulled = true
		case !strings.HasPrefix(m, "pulling ") && !strings.Contains(m, "is present"):
			fromEngine = true
		}
	}
	if !fromEngine || !pulled {
		t.Errorf("the events should show the engine's pull progress and the pulled image:\n%s", run)
	}
	// The digest is the registry's, as `docker pull` prints it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ii, err := cli.ImageInspect(ctx, v1)
	if err != nil {
		t.Fatalf("the engine does not have %s after the deploy: %v", v1, err)
	}
	if !slices.Contains(ii.RepoDigests, reg.Addr+"/web@"+r1.GetImageDigest()) {
		t.Errorf("result image_digest %s is not the registry digest %v", r1.GetImageDigest(), ii.RepoDigests)
	}
	if app := labtest.GetApp(t, c, "web"); app.GetImageDigest() != r1.GetImageDigest() || app.GetImage() != v1 {
		t.Errorf("GetApp reports image %s digest %s; the deploy reported %s digest %s", app.GetImage(), app.GetImageDigest(), v1, r1.GetImageDigest())
	}
	labtest.WantServing(t, a, appPort, "v1")

	wrong := "Wrong-" + randomHex(8)
	bad := labtest.Deploy(t, c, withAuth(labtest.WebDeploy("web", v2, "v2", "deploy-2", appPort, 30*time.Second), wrong))
	if bad.Err != nil || bad.Result.GetOutcome() != outcomeFailed || bad.Result.GetFailedPhase() != agentv1.DeployPhase_DEPLOY_PHASE_PULL {
		t.Fatalf("deploy with a wrong password: want FAILED in phase PULL, got:\n%s", bad)
	}
	if msg := bad.Result.GetMessage(); !strings.Contains(msg, "credentials") || !strings.Contains(msg, v2) {
		t.Errorf("the failure should say the registry refused the credentials for %s: %s", v2, msg)
	}
	if bad.Result.GetVersion() != "v2" || bad.Result.GetPreviousVersion() != "v1" || bad.Result.GetContainerId() != r1.GetContainerId() {
		t.Errorf("the failed result should name the version it tried (v2) and what still runs (v1, %s):\n%s",
			r1.GetContainerId(), protojson.Format(bad.Result))
	}
	labtest.WantServing(t, a, appPort, "v1")
	labtest.WantOneRunning(t, cli, node, "web", r1.GetContainerId())
	if _, err := cli.ImageInspect(ctx, v2); err == nil {
		t.Errorf("%s is in the engine although the pull was refused", v2)
	}

	// With the right password v2 goes through.
	r2 := labtest.Deploy(t, c, withAuth(labtest.WebDeploy("web", v2, "v2", "deploy-3", appPort, 30*time.Second), password)).MustSucceed(t, "deploy v2 with the right password")
	labtest.WantServing(t, a, appPort, "v2")
	labtest.WantOneRunning(t, cli, node, "web", r2.GetContainerId())
	// Going back to v1 runs the same image, so the same digest.
	back := labtest.Rollback(t, c, &agentv1.RollbackRequest{App: "web", DeployId: "rollback-1"}).MustSucceed(t, "rollback to v1")
	if back.GetVersion() != "v1" || back.GetImageDigest() != r1.GetImageDigest() {
		t.Errorf("rollback to v1 reports version %s digest %s; deploying v1 reported digest %s", back.GetVersion(), back.GetImageDigest(), r1.GetImageDigest())
	}
	labtest.WantServing(t, a, appPort, "v1")

	hist, err := c.GetHistory(ctx, &agentv1.GetHistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	where := map[string]string{
		"agent log":     a.Log(),
		"failed deploy": strings.Join(bad.Messages(), "\n") + protojson.Format(bad.Result),
		"good deploy":   strings.Join(run.Messages(), "\n") + protojson.Format(run.Result),
		"GetHistory":    protojson.Format(hist),
	}
	for w, text := range where {
		for _, pw := range []string{wrong, password} {
			if strings.Contains(text, pw) {
				t.Errorf("a registry password appears in the %s", w)
			}
		}
	}
	if len(hist.GetEntries()) != 4 {
		t.Errorf("history: %v", labtest.HistoryIDs(hist.GetEntries()))
	}
}
