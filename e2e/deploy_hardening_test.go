package e2e

// Deploy tests about what the engine must survive: a state dir that fills
// up or turns read-only mid-deploy (on a real tmpfs), a corrupt journal,
// and an app that prints its secrets.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/labfleet/labfleet/internal/labtest"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// TestStateDir_FullOrReadOnlyMidDeployIsReportedAsTheNodeKeepsIt pauses a
// deploy of v2 over v1 at a phase, makes the agent's state dir (a small
// tmpfs) read-only or full there, and lets the deploy go on. A success the
// agent cannot record must be reported as a failure with v1 serving; what
// was reported is what the node keeps once the state dir is back and the
// agent restarts, and the node takes the next deploy.
func TestStateDir_FullOrReadOnlyMidDeployIsReportedAsTheNodeKeepsIt(t *testing.T) {
	t.Parallel()
	v1, v2, v3 := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v2", labtest.ModeHealthy), testImage(t, "v3", labtest.ModeHealthy)
	for _, tc := range []struct {
		name    string
		pauseAt string
		full    bool // else read-only
		// reported is the deploy's result and serving the version that
		// runs then; recorded is what history holds in the end.
		reported agentv1.DeployOutcome
		serving  string
		recorded agentv1.DeployOutcome
	}{
		// The commit cannot be journaled: the agent restarts before it
		// could record the failure, and its repair calls it interrupted.
		{"read-only in the health gate", "health", false, outcomeFailed, "v1", outcomeInterrupted},
		// The failure is recorded, at once or by the repair loop once
		// there is space again.
		{"full in the health gate", "health", true, outcomeFailed, "v1", outcomeFailed},
		// Journaled as committed, but the result cannot be recorded.
		{"read-only before the record", "prune", false, outcomeFailed, "v1", outcomeInterrupted},
		// Recorded; only the journal cannot be dropped. The success stands.
		{"read-only after the record", "record", false, outcomeSucceeded, "v2", outcomeSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli := labtest.Docker(t)
			tmpfs := labtest.MountTmpfs(t, "4m")
			node := crashNode{name: labtest.NodeName(t, "statedir"), ip: labtest.LoopbackIP(), state: filepath.Join(tmpfs.Dir, "state")}

			a := node.start(t)
			labtest.Deploy(t, a.Client(t), labtest.WebDeploy("web", v1, "v1", "deploy-v1", appPort, 30*time.Second)).MustSucceed(t, "deploy v1")
			a.Stop()

			faulty := node.start(t, "LABAGENT_FAULT_PAUSE_AT="+tc.pauseAt)
			fc := faulty.Client(t)
			req := labtest.WebDeploy("web", v2, "v2", "deploy-v2", appPort, 30*time.Second)
			done := make(chan labtest.DeployRun, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), labtest.DeployTimeout)
				defer cancel()
				done <- labtest.StreamDeploy(ctx, fc, req, nil)
			}()
			waitForLog(t, faulty, "FAULT-PAUSE "+tc.pauseAt, done)
			var free func()
			if tc.full {
				free = tmpfs.Fill()
			} else {
				tmpfs.ReadOnly()
			}
			run := <-done

			res := run.Result
			if run.Err != nil || res.GetOutcome() != tc.reported {
				t.Fatalf("deploy v2 with the state dir %s at %s: want %s, got:\n%s", map[bool]string{true: "full", false: "read-only"}[tc.full], tc.pauseAt, tc.reported, run)
			}
			if tc.reported == outcomeFailed {
				if res.GetFailedPhase() != agentv1.DeployPhase_DEPLOY_PHASE_RECORD || !strings.HasPrefix(res.GetMessage(), "record failed: ") ||
					!strings.Contains(res.GetMessage(), "version v1 is serving again") {
					t.Errorf("the failure should say that recording failed and v1 serves again:\n%s", protojson.Format(res))
				}
				// A full tmpfs may still take a line in the history file's
				// last page; a read-only one takes nothing.
				if !tc.full && !strings.Contains(res.GetMessage(), "this result could not be recorded yet (the agent retries)") {
					t.Errorf("the failure should say that it is not recorded yet:\n%s", protojson.Format(res))
				}
			}
			labtest.WantServing(t, faulty, appPort, tc.serving)
			running := labtest.WantOneRunning(t, cli, node.name, "web", "")
			if res.GetContainerId() != running {
				t.Errorf("the result names container %s, but %s runs", res.GetContainerId(), running)
			}
			replay := labtest.Deploy(t, fc, req)
			if replay.Err != nil || !replay.Result.GetReplayed() || replay.Result.GetOutcome() != tc.reported {
				t.Errorf("re-sending deploy-v2 before the state dir is back: want the reported %s replayed, got:\n%s", tc.reported, replay)
			}

			if tc.full {
				free()
				labtest.Eventually(t, 30*time.Second, "the failure is recorded", func() string {
					return historyOf(t, fc, "deploy-v2", outcomeFailed)
				})
				faulty.Stop()
			} else {
				faulty.Stop()
				tmpfs.ReadWrite()
			}

			b := node.start(t)
			c := b.Client(t)
			labtest.Eventually(t, 30*time.Second, "the restarted agent's repair", func() string {
				if why := historyOf(t, c, "deploy-v2", tc.recorded); why != "" {
					return why
				}
				if states := labtest.ContainerStates(t, cli, node.name, "web"); states["running"] != 1 || states["created"] != 0 {
					return fmt.Sprintf("containers: %v", states)
				}
				if v := b.VersionAt(appPort); v != tc.serving {
					return fmt.Sprintf("/version answers %q", v)
				}
				return ""
			})
			labtest.WantOneRunning(t, cli, node.name, "web", running)
			r3 := labtest.Deploy(t, c, labtest.WebDeploy("web", v3, "v3", "deploy-v3", appPort, 30*time.Second)).MustSucceed(t, "deploy v3 afterwards")
			if r3.GetPreviousVersion() != tc.serving {
				t.Errorf("deploy v3 replaced %q, want %q", r3.GetPreviousVersion(), tc.serving)
			}
			labtest.WantServing(t, b, appPort, "v3")
		})
	}
}

// historyOf returns "" when id is recorded exactly once, with outcome
// want, in the agent's history of web, else what is there instead.
func historyOf(t *testing.T, c agentv1.AgentServiceClient, id string, want agentv1.DeployOutcome) string {
	t.Helper()
	var got []string
	for _, e := range labtest.History(t, c, "web") {
		if e.GetDeployId() == id {
			got = append(got, e.GetOutcome().String())
		}
	}
	if len(got) != 1 || got[0] != want.String() {
		return fmt.Sprintf("%s is recorded as %v, want once as %s", id, got, want)
	}
	return ""
}

// TestStateDir_CorruptJournalBlocksOnlyItsApp gives a real agent a
// journal it cannot read: that app is refused, naming the quarantined
// file and the repair, without its containers being touched; another app
// deploys; deleting the quarantined file unblocks it.
func TestStateDir_CorruptJournalBlocksOnlyItsApp(t *testing.T) {
	t.Parallel()
	v1, v2 := testImage(t, "v1", labtest.ModeHealthy), testImage(t, "v2", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	node := newCrashNode(t, "corrupt")
	a := node.start(t)
	r1 := labtest.Deploy(t, a.Client(t), labtest.WebDeploy("web", v1, "v1", "deploy-web-1", appPort, 30*time.Second)).MustSucceed(t, "deploy web")
	labtest.Deploy(t, a.Client(t), labtest.WebDeploy("api", v1, "v1", "deploy-api-1", 8001, 30*time.Second)).MustSucceed(t, "deploy api")
	a.Stop()
	journal := filepath.Join(node.state, "deploy", "journal", "web.json")
	if err := os.WriteFile(journal, []byte("{\"deploy_id\":\"deploy-web-2\",\"app\":\"web\",\"new_con\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}

	b := node.start(t)
	c := b.Client(t)
	run := labtest.Deploy(t, c, labtest.WebDeploy("web", v2, "v2", "deploy-web-2", appPort, 30*time.Second))
	wantCorrupt(t, "deploy web with a corrupt journal", run.Err)
	quarantined := regexp.MustCompile(`\S*/journal/web\.json\.corrupt-[0-9TZ-]+`).FindString(status.Convert(run.Err).Message())
	if quarantined == "" {
		t.Fatalf("the error does not name the quarantined journal: %v", run.Err)
	}
	if _, err := os.Stat(quarantined); err != nil {
		t.Fatalf("the quarantined journal: %v", err)
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Errorf("the corrupt journal is still in place: %v", err)
	}
	labtest.WantServing(t, b, appPort, "v1")
	labtest.WantOneRunning(t, cli, node.name, "web", r1.GetContainerId())

	labtest.Deploy(t, c, labtest.WebDeploy("api", v2, "v2", "deploy-api-2", 8001, 30*time.Second)).MustSucceed(t, "deploy api while web is blocked")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.GetHistory(ctx, &agentv1.GetHistoryRequest{App: "web"})
	wantCorrupt(t, "GetHistory of web", err)
	if got := labtest.HistoryIDs(labtest.History(t, c, "")); len(got) != 2 || !strings.HasPrefix(got[0], "deploy-api-2:") {
		t.Errorf("the history of all apps should hold api's two deploys, got %v", got)
	}

	if err := os.Remove(quarantined); err != nil {
		t.Fatal(err)
	}
	r2 := labtest.Deploy(t, c, labtest.WebDeploy("web", v2, "v2", "deploy-web-2", appPort, 30*time.Second)).MustSucceed(t, "deploy web after the repair")
	labtest.WantServing(t, b, appPort, "v2")
	labtest.WantOneRunning(t, cli, node.name, "web", r2.GetContainerId())
}

// wantCorrupt checks the refusal of an app blocked by a quarantined file.
func wantCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	st := status.Convert(err)
	// agent/service maps deploy.ErrCorruptState to FailedPrecondition.
	if err == nil || st.Code() != codes.FailedPrecondition {
		t.Fatalf("%s: want FailedPrecondition, got %v", what, err)
	}
	for _, want := range []string{"corrupt", "web.json.corrupt-", "labcontroller status --app web", "to unblock web"} {
		if !strings.Contains(st.Message(), want) {
			t.Errorf("%s: the error does not say %q: %s", what, want, st.Message())
		}
	}
}

// TestDeploy_SecretThatTheAppPrintsIsMasked runs a v2 whose output holds
// its secret (its health probe of a URL made of it fails and says so):
// the log tail shows where, masked, and the secret appears nowhere the
// agent reports or records.
func TestDeploy_SecretThatTheAppPrintsIsMasked(t *testing.T) {
	t.Parallel()
	v1 := testImage(t, "v1", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "mask")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	c := a.Client(t)
	secret := "Tok3n-" + randomHex(8)
	r1 := labtest.Deploy(t, c, labtest.WebDeploy("web", v1, "v1", "deploy-1", appPort, 30*time.Second)).MustSucceed(t, "deploy v1")

	req := labtest.WebDeploy("web", v1, "v2", "deploy-2", appPort, 10*time.Second)
	req.Spec.SecretEnv = map[string]string{"API_TOKEN": secret}
	// The test app's -healthcheck mode prints the URL it failed to get.
	req.Spec.Command = []string{"-healthcheck", "http://127.0.0.1:1/" + secret}
	run := labtest.Deploy(t, c, req)
	if run.Err != nil || run.Result.GetOutcome() != outcomeFailed {
		t.Fatalf("a v2 that exits at once: want FAILED, got:\n%s", run)
	}
	tail := strings.Join(run.Result.GetLogTail(), "\n")
	if !strings.Contains(tail, "http://127.0.0.1:1/[secret API_TOKEN]") {
		t.Errorf("the log tail should show the masked secret where the app printed it, got %q", tail)
	}
	labtest.WantServing(t, a, appPort, "v1")
	labtest.WantOneRunning(t, cli, node, "web", r1.GetContainerId())

	leaks := map[string]string{"agent log": a.Log(), "events and result": strings.Join(run.Messages(), "\n") + protojson.Format(run.Result)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := c.GetHistory(ctx, &agentv1.GetHistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	leaks["GetHistory"] = protojson.Format(h)
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
}
