package deploy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// outcome is what a deploy run in another goroutine returned.
type outcome struct {
	res Result
	err error
}

func TestDeploy_SecondDeployOfTheSameAppIsLocked(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{})
	env.rt.publish("todo:v3", behaviour{})
	env.deploy(request("d-1", "v1"))

	// The first deploy stops in its health gate until released.
	inGate, release := make(chan struct{}), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	var once sync.Once
	done := make(chan outcome, 1)
	go func() {
		res, err := env.e.Deploy(context.Background(), request("d-2", "v2"), func(ev Event) {
			if ev.Phase == PhaseHealth {
				once.Do(func() { close(inGate); <-release })
			}
		})
		done <- outcome{res, err}
	}()
	select {
	case <-inGate:
	case o := <-done:
		t.Fatalf("the first deploy ended before its health gate: %+v, %v", o.res, o.err)
	}
	n := len(env.rt.callLog())

	_, err := env.e.Deploy(context.Background(), request("d-3", "v3"), nil)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "deploy d-2 (caller test") {
		t.Fatalf("second deploy: %v, want ErrLocked naming d-2 and its caller", err)
	}
	_, err = env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: "r-1"}, nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("rollback during a deploy: %v, want ErrLocked", err)
	}
	if calls := env.rt.callLog()[n:]; len(calls) != 0 {
		t.Fatalf("refused deploys called the runtime: %v", calls)
	}
	other := request("o-1", "v3")
	other.App, other.Spec = "other", Spec{}
	if res := env.deploy(other); res.Outcome != Succeeded {
		t.Fatalf("another app must deploy meanwhile: %+v", res)
	}

	releaseOnce()
	if o := <-done; o.err != nil || o.res.Outcome != Succeeded || o.res.Version != "v2" {
		t.Fatalf("first deploy: %+v, %v", o.res, o.err)
	}
	if h := env.historyOf("d-3"); len(h) != 0 {
		t.Fatalf("a refused deploy was recorded: %+v", h)
	}
	if res := env.deploy(request("d-3", "v3")); res.Outcome != Succeeded {
		t.Fatalf("the lock was not released: %+v", res)
	}
}

func TestDeploy_WaitsOutTheRepairLoop(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	unlock, err := env.e.lock(testApp, reconcileID, "labagent")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := env.e.Deploy(context.Background(), request("d-1", "v1"), nil)
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		unlock()
		t.Fatalf("the deploy did not wait for the repair loop: %+v, %v", o.res, o.err)
	case <-time.After(60 * time.Millisecond):
	}
	unlock()
	if o := <-done; o.err != nil || o.res.Outcome != Succeeded {
		t.Fatalf("deploy after the repair loop: %+v, %v", o.res, o.err)
	}
}

func TestDeploy_ReplaysAFinishedDeployID(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{health: "unhealthy", logs: []string{"cannot connect to db"}})
	env.rt.publish("todo:v3", behaviour{})
	env.deploy(request("d-1", "v1"))
	failed := env.deploy(request("d-2", "v2"))
	back := env.deploy(request("d-3", "v3"))
	if _, err := env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: "r-1"}, nil); err != nil {
		t.Fatal(err)
	}
	n := len(env.rt.callLog())

	for _, restart := range []bool{false, true} {
		if restart {
			env.restart()
		}
		res, err := env.e.Deploy(context.Background(), request("d-2", "v2"), nil)
		if err != nil || !res.Replayed || res.Outcome != Failed || res.Version != "v2" || res.FailedPhase != PhaseHealth ||
			res.Message != failed.Message || !slices.Equal(res.LogTail, []string{"cannot connect to db"}) {
			t.Fatalf("replay (restart %v) = %+v, %v", restart, res, err)
		}
		res, err = env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: "r-1"}, nil)
		if err != nil || !res.Replayed || res.Kind != KindRollback || res.Version != "v1" || res.PreviousVersion != "v3" {
			t.Fatalf("rollback replay (restart %v) = %+v, %v", restart, res, err)
		}
		// The same id for something else is refused, not answered with
		// the result of what it was first used for.
		for what, send := range map[string]func() error{
			"another image": func() error { _, err := env.e.Deploy(context.Background(), request("d-2", "v3"), nil); return err },
			"other settings": func() error {
				r := request("d-3", "v3")
				r.Spec.Env = map[string]string{"LOG_LEVEL": "debug"}
				_, err := env.e.Deploy(context.Background(), r, nil)
				return err
			},
			"a rollback under a deploy's id": func() error {
				_, err := env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: "d-1"}, nil)
				return err
			},
			"a deploy under a rollback's id": func() error { _, err := env.e.Deploy(context.Background(), request("r-1", "v1"), nil); return err },
			"a rollback to another version": func() error {
				_, err := env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: "r-1", Version: "v3"}, nil)
				return err
			},
		} {
			err := send()
			var reused *IDReusedError
			if !errors.Is(err, ErrDeployIDReused) || !errors.Is(err, ErrInvalid) || !errors.As(err, &reused) || !strings.Contains(err.Error(), "use a new id") {
				t.Errorf("%s (restart %v): %v, want ErrDeployIDReused", what, restart, err)
			}
		}
	}
	if calls := env.rt.callLog()[n:]; len(calls) != 0 {
		t.Fatalf("replays and refusals called the runtime: %v", calls)
	}
	if len(env.history()) != 4 {
		t.Fatalf("replays were recorded: %+v", env.history())
	}
	if s := env.serving(); s.Labels[LabelVersion] != "v1" || back.Outcome != Succeeded {
		t.Fatalf("serving %s after replays", s.Labels[LabelVersion])
	}

	other := request("d-1", "v1")
	other.App = "other"
	if _, err := env.e.Deploy(context.Background(), other, nil); !errors.Is(err, ErrDeployIDReused) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("a deploy id reused for another app: %v, want ErrDeployIDReused (and ErrInvalid)", err)
	}
}

// Results recorded before requests were hashed replay for any request of
// their app, as they always did: an old history must not turn re-sends
// into errors.
func TestDeploy_ReplaysARecordWithoutRequestHash(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	if err := env.e.store.Record(Result{DeployID: "old-1", App: testApp, Kind: KindDeploy, Outcome: Succeeded, Version: "v0"}); err != nil {
		t.Fatal(err)
	}
	res, err := env.e.Deploy(context.Background(), request("old-1", "v1"), nil)
	if err != nil || !res.Replayed || res.Version != "v0" {
		t.Fatalf("re-send of a legacy record: %+v, %v", res, err)
	}
}

func TestDeploy_DryRunChangesNothing(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{})
	env.rt.publish("todo:v3", behaviour{})
	env.deploy(request("d-1", "v1"))
	// v3 is on the node already, v2 only in the registry.
	if err := env.rt.Pull(context.Background(), "todo:v3", nil, func(int64, int64, string) {}); err != nil {
		t.Fatal(err)
	}
	n := env.rt.changeCount()

	dry := func(id, version string, pull PullPolicy) Request {
		r := request(id, version)
		r.DryRun, r.Pull = true, pull
		return r
	}
	for _, tc := range []struct {
		r       Request
		outcome Outcome
		msg     string
	}{
		{dry("p-1", "v2", PullDefault), WouldChange, "would pull todo:v2 (not on the node yet) and deploy it as version v2"},
		{dry("p-2", "v3", PullDefault), WouldChange, "would replace version v1 ("},
		{dry("p-3", "v1", PullDefault), Unchanged, "todo:v1 with the same settings already runs as version v1; nothing would change"},
		{dry("p-4", "v2", PullNever), Failed, "image todo:v2 is not on node node1 and the pull policy is never"},
	} {
		res, err := env.e.Deploy(context.Background(), tc.r, nil)
		if err != nil || res.Outcome != tc.outcome || !strings.HasPrefix(res.Message, tc.msg) || res.PreviousVersion != "v1" {
			t.Errorf("dry run of %s: %+v, %v; want %s %q", tc.r.Image, res, err, tc.outcome, tc.msg)
		}
	}
	if ch := env.rt.changesSince(n); len(ch) != 0 {
		t.Fatalf("a dry run changed the node: %v", ch)
	}
	env.wantState("v1:running")
	if env.rt.hasImage("todo:v2") || len(env.history()) != 1 || env.journal() != "none" {
		t.Fatalf("a dry run pulled, recorded or journaled: history %+v, journal %s", env.history(), env.journal())
	}
	// Nothing was recorded, so the id can still be used for the real deploy.
	if res := env.deploy(request("p-1", "v2")); res.Replayed || res.Outcome != Succeeded {
		t.Fatalf("the real deploy after a dry run: %+v", res)
	}
}

func TestDeploy_EngineUnavailable(t *testing.T) {
	for _, method := range []string{"List", "Image", "Pull"} {
		t.Run("down at "+method, func(t *testing.T) {
			env := newTestEnv(t)
			env.rt.publish("todo:v1", behaviour{})
			env.rt.publish("todo:v2", behaviour{})
			env.deploy(request("d-1", "v1"))
			v1 := env.serving()
			n := env.rt.changeCount()

			env.rt.fail(method, errEngineDown)
			res, err := env.e.Deploy(context.Background(), request("d-2", "v2"), nil)
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "connection refused") || res.Outcome != OutcomeNone {
				t.Fatalf("deploy = %+v, %v; want ErrUnavailable with the engine's error and no result", res, err)
			}
			if ch := env.rt.changesSince(n); len(ch) != 0 {
				t.Fatalf("changed the node: %v", ch)
			}
			if env.serving().ID != v1.ID || len(env.history()) != 1 || env.journal() != "none" {
				t.Fatalf("old container not left running or something recorded: %s, %+v, journal %s", env.rt.state(testApp), env.history(), env.journal())
			}

			env.rt.fail(method, nil)
			if res := env.deploy(request("d-2", "v2")); res.Outcome != Succeeded {
				t.Fatalf("deploy once the engine is back: %+v", res)
			}
		})
	}

	t.Run("down mid-swap", func(t *testing.T) {
		env := newTestEnv(t)
		env.rt.publish("todo:v1", behaviour{})
		env.rt.publish("todo:v2", behaviour{})
		env.deploy(request("d-1", "v1"))
		v1 := env.serving()
		env.rt.setAfter(func(method, _ string) {
			if method == "Create" {
				env.rt.failAll(errEngineDown)
			}
		})
		res := env.deploy(request("d-2", "v2"))
		env.rt.setAfter(nil)
		if res.Outcome != Failed || res.FailedPhase != PhaseStopOld || !strings.Contains(res.Message, "cannot remove the new container yet (the agent retries)") {
			t.Fatalf("result %+v", res)
		}
		if _, err := env.e.GetApp(context.Background(), testApp); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("GetApp while the engine is down: %v", err)
		}
		env.wantState("v1:running v2:created")
		if env.journal() != "saved,new" {
			t.Fatalf("journal %s: the unfinished revert must stay journaled", env.journal())
		}

		env.rt.failAll(nil)
		if err := env.e.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		env.wantState("v1:running")
		if env.serving().ID != v1.ID || env.journal() != "none" {
			t.Fatalf("journal %s after the repair", env.journal())
		}
		if h := env.historyOf("d-2"); len(h) != 1 || h[0].Outcome != Failed {
			t.Fatalf("history of d-2: %+v; want the one failure, not a second entry", h)
		}
	})
}
