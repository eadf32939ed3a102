package deploy

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// breakState makes every write under the state dir's sub directories fail
// with EROFS, as on a read-only file system (reads go on working), until
// the returned heal is called. Call both from the goroutine that runs the
// engine (e.g. in an emit callback), with no repair loop running.
func (env *testEnv) breakState(subs ...string) (heal func()) {
	env.t.Helper()
	s := env.e.store
	s.writeFault = func(path string) error {
		for _, sub := range subs {
			if strings.HasPrefix(path, filepath.Join(env.dir, sub)+string(filepath.Separator)) {
				return &fs.PathError{Op: "write", Path: path, Err: syscall.EROFS}
			}
		}
		return nil
	}
	return func() { s.writeFault = nil }
}

// A deploy is successful only once its success is journaled and recorded:
// one the state dir cannot hold is reported failed, with the old version
// serving again, and what was reported is what the node keeps, through a
// repair and through an agent restart.
func TestDeploy_ASuccessTheStateDirCannotHoldIsAFailure(t *testing.T) {
	for _, tc := range []struct {
		name       string
		broken     []string // state subdirs that refuse writes ...
		at         Phase    // ... from the first event of this phase on
		startFirst bool
		// restartFirst: the agent restarts (losing what it kept in memory)
		// before the state dir takes writes again.
		restartFirst bool
		outcome      Outcome
		why          string
		serving      string
		recorded     Outcome // what history holds for the deploy in the end
	}{
		{name: "commit not journaled", broken: []string{"journal"}, at: PhaseHealth, outcome: Failed,
			why: "record failed: cannot journal that the new version passed its health gate", serving: "v1", recorded: Failed},
		{name: "commit not journaled, start-first", broken: []string{"journal"}, at: PhaseHealth, startFirst: true, outcome: Failed,
			why: "record failed: cannot journal that the new version passed its health gate", serving: "v1", recorded: Failed},
		{name: "current not recorded", broken: []string{"current"}, at: PhaseHealth, outcome: Failed,
			why: "record failed: cannot record the app's current container", serving: "v1", recorded: Failed},
		{name: "result not recorded", broken: []string{"history"}, at: PhasePrune, outcome: Failed,
			why: "record failed: cannot record the result", serving: "v1", recorded: Failed},
		{name: "state dir read-only from the gate on", broken: []string{"journal", "current", "history"}, at: PhaseHealth, outcome: Failed,
			why: "record failed: cannot journal", serving: "v1", recorded: Failed},
		{name: "state dir read-only from the gate on, restart first", broken: []string{"journal", "current", "history"}, at: PhaseHealth,
			restartFirst: true, outcome: Failed, why: "record failed: cannot journal", serving: "v1", recorded: Interrupted},
		// Recorded, but the journal cannot be dropped: the success stands.
		{name: "journal not dropped", broken: []string{"journal"}, at: PhaseRecord, outcome: Succeeded,
			why: "todo is now version v2 (was v1)", serving: "v2", recorded: Succeeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.rt.publish("todo:v1", behaviour{})
			env.rt.publish("todo:v2", behaviour{})
			env.rt.publish("todo:v3", behaviour{})
			mk := request
			if tc.startFirst {
				mk = func(id, v string) Request { return startFirst(request(id, v)) }
			}
			env.deploy(mk("d-1", "v1"))

			var heal func()
			res, err := env.e.Deploy(context.Background(), mk("d-2", "v2"), func(ev Event) {
				if ev.Phase == tc.at && heal == nil {
					heal = env.breakState(tc.broken...)
				}
			})
			if heal == nil {
				t.Fatalf("the deploy never reached %s: %+v, %v", tc.at, res, err)
			}
			if err != nil || res.Outcome != tc.outcome || !strings.HasPrefix(res.Message, tc.why) {
				heal()
				t.Fatalf("deploy = %+v, %v; want %s: %q...", res, err, tc.outcome, tc.why)
			}
			s := env.serving()
			if s.Labels[LabelVersion] != tc.serving || res.ContainerID != s.ID {
				heal()
				t.Fatalf("serving %s (result names %s), want %s", s.Labels[LabelVersion], res.ContainerID, tc.serving)
			}
			if again, err := env.e.Deploy(context.Background(), mk("d-2", "v2"), nil); err != nil || !again.Replayed || again.Outcome != tc.outcome {
				heal()
				t.Fatalf("re-sent d-2 before the state dir is back: %+v, %v", again, err)
			}

			if tc.restartFirst {
				heal()
				env.restart()
			} else {
				heal()
			}
			// The repair loop's pass, then an agent restart and its pass.
			for _, restart := range []bool{false, true} {
				if restart {
					env.restart()
				}
				if err := env.e.Reconcile(context.Background()); err != nil {
					t.Fatal(err)
				}
				if s := env.serving(); s.Labels[LabelVersion] != tc.serving {
					t.Fatalf("after reconcile (restart %v): serving %s, want %s", restart, s.Labels[LabelVersion], tc.serving)
				}
				h := env.historyOf("d-2")
				if len(h) != 1 || h[0].Outcome != tc.recorded || strings.Contains(h[0].Message, "could not be recorded") {
					t.Fatalf("history of d-2 (restart %v): %+v, want one %s", restart, h, tc.recorded)
				}
				if env.journal() != "none" || env.current() != env.serving().ID {
					t.Fatalf("journal %s, current %s", env.journal(), env.current())
				}
			}
			if res := env.deploy(mk("d-3", "v3")); res.Outcome != Succeeded {
				t.Fatalf("the next deploy: %+v", res)
			}
		})
	}
}

// A failure (or an unchanged deploy) that cannot be recorded is still
// reported, says so, replays, and is recorded by the repair loop once the
// state dir takes writes again, even without a journal to find it by.
func TestDeploy_AnUnrecordedResultIsRecordedLater(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.deploy(request("d-1", "v1"))

	heal := env.breakState("history", "journal")
	res := env.deploy(request("d-2", "v1"))
	if res.Outcome != Unchanged || !strings.Contains(res.Message, "this result could not be recorded yet (the agent retries)") {
		heal()
		t.Fatalf("result %+v", res)
	}
	if again, err := env.e.Deploy(context.Background(), request("d-2", "v1"), nil); err != nil || !again.Replayed {
		heal()
		t.Fatalf("re-sent: %+v, %v", again, err)
	}
	if err := env.e.Reconcile(context.Background()); err == nil {
		heal()
		t.Fatal("Reconcile could record into a broken state dir")
	}
	heal()
	if err := env.e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := env.historyOf("d-2"); len(h) != 1 || h[0].Outcome != Unchanged || strings.Contains(h[0].Message, "could not be recorded") {
		t.Fatalf("history of d-2: %+v", h)
	}
}
