package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/labfleet/labfleet/internal/labtest"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// crashNode is one node whose agent a test kills and starts again: the
// same name, listen IP (so the same publish IP) and state dir every time.
type crashNode struct {
	name, ip, state string
}

func newCrashNode(t *testing.T, prefix string) crashNode {
	return crashNode{name: labtest.NodeName(t, prefix), ip: labtest.LoopbackIP(), state: filepath.Join(t.TempDir(), "state")}
}

func (n crashNode) start(t *testing.T, env ...string) *labtest.Agent {
	t.Helper()
	// StartAgent passes its own --state-dir first; the last one wins.
	return labtest.StartAgent(t, labtest.AgentOptions{Name: n.name, IP: n.ip, Args: []string{"--state-dir", n.state}, Env: env})
}

// waitForLog waits until the agent prints want, failing early when done
// delivers (the deploy ended without reaching the pause).
func waitForLog(t *testing.T, a *labtest.Agent, want string, done <-chan labtest.DeployRun) {
	t.Helper()
	deadline := time.After(90 * time.Second)
	for !strings.Contains(a.Log(), want) {
		select {
		case run := <-done:
			t.Fatalf("the deploy ended before %q:\n%s", want, run)
		case <-deadline:
			t.Fatalf("the agent did not print %q within 90s", want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestCrash_KillAtEachPhaseIsReconciledAtRestart(t *testing.T) {
	t.Parallel()
	v1, v2, v3 := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v2", labtest.ModeHealthy), testImage(t, "v3", labtest.ModeHealthy)
	for _, tc := range []struct {
		phase string
		// committed: the new version had passed its gate when the agent died.
		committed bool
	}{
		{"create", false}, {"stop-old", false}, {"start", false}, {"health", false}, {"prune", true}, {"record", true},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			t.Parallel()
			cli := labtest.Docker(t)
			node := newCrashNode(t, "crash-"+tc.phase)

			a := node.start(t)
			r1 := labtest.Deploy(t, a.Client(t), labtest.WebDeploy("web", v1, "v1", "deploy-v1", appPort, 30*time.Second)).MustSucceed(t, "deploy v1")
			a.Stop()

			faulty := node.start(t, "LABAGENT_FAULT_PAUSE_AT="+tc.phase)
			fc := faulty.Client(t)
			done := make(chan labtest.DeployRun, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), labtest.DeployTimeout)
				defer cancel()
				done <- labtest.StreamDeploy(ctx, fc, labtest.WebDeploy("web", v2, "v2", "deploy-v2", appPort, 30*time.Second), nil)
			}()
			waitForLog(t, faulty, "FAULT-PAUSE "+tc.phase, done)
			if err := faulty.Cmd.Process.Kill(); err != nil {
				t.Fatalf("SIGKILL the agent: %v", err)
			}
			if run := <-done; run.Result != nil {
				t.Fatalf("a killed agent cannot have finished the deploy:\n%s", run)
			}

			b := node.start(t)
			c := b.Client(t)
			wantOutcome, wantVersion := outcomeInterrupted, "v1"
			if tc.committed {
				wantOutcome, wantVersion = outcomeSucceeded, "v2"
			}
			var entry *agentv1.DeployResult
			labtest.Eventually(t, 30*time.Second, "reconcile after the crash", func() string {
				entry = nil
				n := 0
				for _, e := range labtest.History(t, c, "web") {
					if e.GetDeployId() == "deploy-v2" {
						entry, n = e, n+1
					}
				}
				states := labtest.ContainerStates(t, cli, node.name, "web")
				switch {
				case n != 1:
					return fmt.Sprintf("deploy-v2 is recorded %d times", n)
				case states["running"] != 1 || states["created"] != 0:
					return fmt.Sprintf("containers: %v", states)
				case b.VersionAt(appPort) != wantVersion:
					return fmt.Sprintf("/version answers %q", b.VersionAt(appPort))
				}
				return ""
			})
			if entry.GetOutcome() != wantOutcome || entry.GetVersion() != "v2" || entry.GetPreviousVersion() != "v1" || entry.GetCaller() != "loopback" {
				t.Errorf("deploy-v2 after a crash at %s: want %s:\n%s", tc.phase, wantOutcome, protojson.Format(entry))
			}
			running := labtest.WantOneRunning(t, cli, node.name, "web", "")
			if tc.committed == (running == r1.GetContainerId()) {
				t.Errorf("running container %s; v1's is %s (committed %v)", running, r1.GetContainerId(), tc.committed)
			}
			if app := labtest.GetApp(t, c, "web"); app.GetVersion() != wantVersion || app.GetContainerId() != running || app.GetHealth() != agentv1.AppHealth_APP_HEALTH_HEALTHY {
				t.Errorf("GetApp after reconcile:\n%s", protojson.Format(app))
			}
			// The restarted agent knows the id is finished.
			replay := labtest.Deploy(t, c, labtest.WebDeploy("web", v2, "v2", "deploy-v2", appPort, 30*time.Second))
			if replay.Err != nil || !replay.Result.GetReplayed() || replay.Result.GetOutcome() != wantOutcome {
				t.Errorf("re-sending deploy-v2 after the crash: want its recorded %s result replayed, got:\n%s", wantOutcome, replay)
			}

			r3 := labtest.Deploy(t, c, labtest.WebDeploy("web", v3, "v3", "deploy-v3", appPort, 30*time.Second)).MustSucceed(t, "deploy v3 after reconcile")
			if r3.GetPreviousVersion() != wantVersion {
				t.Errorf("deploy v3: previous version %q, want %q", r3.GetPreviousVersion(), wantVersion)
			}
			labtest.WantServing(t, b, appPort, "v3")
			labtest.WantOneRunning(t, cli, node.name, "web", r3.GetContainerId())
		})
	}
}

func TestEngineDown_UnreachableEngineIsUnavailableAndAgentServes(t *testing.T) {
	t.Parallel()
	v1 := testImage(t, "v1", labtest.ModeHealthy)
	node := labtest.NodeName(t, "nodocker")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node, Args: []string{"--docker-host", "unix:///nonexistent/docker.sock"}})
	c := a.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	info, err := c.GetInfo(ctx, &agentv1.GetInfoRequest{})
	if err != nil {
		t.Fatalf("GetInfo with the engine down: %v", err)
	}
	if d := info.GetDocker(); d.GetReachable() || !strings.Contains(d.GetError(), "/nonexistent/docker.sock") {
		t.Errorf("GetInfo should report the engine unreachable, naming it: %s", protojson.Format(d))
	}
	run := labtest.Deploy(t, c, labtest.WebDeploy("web", v1, "v1", "deploy-1", appPort, 30*time.Second))
	labtest.WantCode(t, "deploy with the engine down", run.Err, codes.Unavailable, "Docker Engine", "/nonexistent/docker.sock")
	_, err = c.ListApps(ctx, &agentv1.ListAppsRequest{})
	labtest.WantCode(t, "ListApps with the engine down", err, codes.Unavailable, "Docker Engine")
	if h := labtest.History(t, c, ""); len(h) != 0 {
		t.Errorf("a deploy that changed nothing was recorded: %v", labtest.HistoryIDs(h))
	}
	if _, err := c.GetInfo(ctx, &agentv1.GetInfoRequest{}); err != nil || a.Exited() {
		t.Fatalf("the agent stopped serving after the failed deploy: %v", err)
	}
}

func TestEngineDown_CutDuringHealthGateIsRepaired(t *testing.T) {
	t.Parallel()
	v1, v3 := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v3", labtest.ModeHealthy)
	slow := testImage(t, "v2", labtest.ModeSlowStart)
	cli := labtest.Docker(t)
	proxy := labtest.StartDockerProxy(t)
	node := labtest.NodeName(t, "cut")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node, Args: []string{"--docker-host", proxy.Host}})
	c := a.Client(t)
	r1 := labtest.Deploy(t, c, labtest.WebDeploy("web", v1, "v1", "deploy-v1", appPort, 30*time.Second)).MustSucceed(t, "deploy v1 through the proxy")

	req := labtest.WebDeploy("web", slow, "v2", "deploy-v2", appPort, 60*time.Second)
	req.Spec.Env = map[string]string{"SLOW_SECONDS": "10"}
	req.Health.Interval = durationpb.New(500 * time.Millisecond)
	done := labtest.DeployIntoHealthGate(t, c, req)
	proxy.Cut()
	run := <-done
	if run.Result.GetOutcome() == outcomeSucceeded || (run.Err != nil && !strings.Contains(run.Err.Error(), "Unavailable")) {
		t.Fatalf("a deploy whose engine went away in the health gate: want FAILED or Unavailable, got:\n%s", run)
	}
	t.Logf("deploy with the engine cut:\n%s", run)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if info, err := c.GetInfo(ctx, &agentv1.GetInfoRequest{}); err != nil || info.GetDocker().GetReachable() {
		t.Errorf("GetInfo while the engine is cut off: want reachable=false, got %v %v", info.GetDocker(), err)
	}

	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	// The repair loop runs every 5s; the app must come back to the version
	// that ran before, in one container, without a new deploy.
	why := labtest.Poll(30*time.Second, func() string {
		running := labtest.RunningContainers(t, cli, node, "web")
		switch {
		case len(running) != 1 || running[0] != r1.GetContainerId():
			return fmt.Sprintf("running %v (v1 is %s), states %v", running, r1.GetContainerId()[:12], labtest.ContainerStates(t, cli, node, "web"))
		case a.VersionAt(appPort) != "v1":
			return fmt.Sprintf("/version answers %q", a.VersionAt(appPort))
		}
		return ""
	})
	if why != "" {
		t.Errorf("the engine came back but the app was not repaired to v1 within 30s: %s", why)
	}
	if app := labtest.GetApp(t, c, "web"); app.GetVersion() != "v1" || app.GetHealth() != agentv1.AppHealth_APP_HEALTH_HEALTHY {
		t.Errorf("GetApp after the engine came back (want v1, healthy):\n%s", protojson.Format(app))
	}
	// Whatever state it was left in, the next deploy repairs and goes through.
	r3 := labtest.Deploy(t, c, labtest.WebDeploy("web", v3, "v3", "deploy-v3", appPort, 30*time.Second)).MustSucceed(t, "deploy after the engine came back")
	labtest.WantServing(t, a, appPort, "v3")
	labtest.WantOneRunning(t, cli, node, "web", r3.GetContainerId())
}
