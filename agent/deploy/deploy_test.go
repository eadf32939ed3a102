package deploy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDeploy_FirstDeployThenSwap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mk     func(id, version string) Request
		phases []Phase
		// running is how many containers of the app run during the new one's health gate.
		running int
	}{
		{"stop-first", request, []Phase{PhaseLock, PhasePull, PhaseCreate, PhaseStopOld, PhaseStart, PhaseHealth, PhasePrune, PhaseRecord}, 1},
		{"start-first", func(id, v string) Request { return startFirst(request(id, v)) },
			[]Phase{PhaseLock, PhasePull, PhaseCreate, PhaseStart, PhaseHealth, PhaseStopOld, PhasePrune, PhaseRecord}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			v1img := env.rt.publish("todo:v1", behaviour{})
			env.rt.publish("todo:v2", behaviour{})

			first := env.deploy(tc.mk("d-1", "v1"))
			v1 := env.serving()
			if first.Outcome != Succeeded || first.Version != "v1" || first.PreviousVersion != "" || first.ContainerID != v1.ID || first.Kind != KindDeploy {
				t.Fatalf("first deploy: %+v", first)
			}
			if !strings.HasSuffix(first.ImageDigest, "d1d1") || v1.Labels[LabelDigest] != first.ImageDigest {
				t.Fatalf("the registry digest of %s was not recorded: result %q, label %q", v1img.ID, first.ImageDigest, v1.Labels[LabelDigest])
			}

			var phases []Phase
			running := -1
			res, err := env.e.Deploy(context.Background(), tc.mk("d-2", "v2"), func(ev Event) {
				if len(phases) == 0 || phases[len(phases)-1] != ev.Phase {
					phases = append(phases, ev.Phase)
				}
				if ev.Phase == PhaseHealth && running < 0 {
					running = strings.Count(env.rt.state(testApp), ":running")
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(phases, tc.phases) {
				t.Errorf("phases %v, want %v", phases, tc.phases)
			}
			if running != tc.running {
				t.Errorf("%d containers ran during the health gate, want %d", running, tc.running)
			}
			v2 := env.serving()
			if res.Outcome != Succeeded || res.Version != "v2" || res.PreviousVersion != "v1" || res.ContainerID != v2.ID || v2.Labels[LabelVersion] != "v2" {
				t.Fatalf("swap: %+v, serving %s", res, v2.Labels[LabelVersion])
			}
			if res.Message != "todo is now version v2 (was v1)" {
				t.Errorf("message %q", res.Message)
			}
			env.wantState("v1:exited v2:running")
			if env.current() != v2.ID || env.journal() != "none" {
				t.Errorf("current %s (want %s), journal %s", env.current(), v2.ID, env.journal())
			}
			h := env.history()
			if len(h) != 2 || h[0].DeployID != "d-2" || h[0].Outcome != Succeeded || h[0].ContainerID != v2.ID || h[0].PreviousVersion != "v1" ||
				h[1].DeployID != "d-1" || h[1].Version != "v1" || h[0].Caller != "test" {
				t.Fatalf("history %+v", h)
			}
			app, err := env.e.GetApp(context.Background(), testApp)
			if err != nil || app.Container.ID != v2.ID || app.Health != "healthy" || !slices.Equal(app.RetainedVersions, []string{"v1"}) {
				t.Fatalf("GetApp = %+v, %v", app, err)
			}
		})
	}
}

func TestDeploy_StartFirstRefusesAFixedHostPort(t *testing.T) {
	env := newTestEnv(t)
	r := request("d-1", "v1")
	r.StartFirst = true
	_, err := env.e.Deploy(context.Background(), r, nil)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "host port 8000") {
		t.Fatalf("err = %v, want ErrInvalid naming the port", err)
	}
	if calls := env.rt.callLog(); len(calls) != 0 || len(env.history()) != 0 {
		t.Fatalf("a refused deploy touched the runtime %v or history", calls)
	}
}

func TestDeploy_SameImageAndSettingsIsUnchanged(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.deploy(request("d-1", "v1"))
	v1 := env.serving()
	n := env.rt.changeCount()

	res := env.deploy(request("d-2", "v1"))
	if res.Outcome != Unchanged || res.ContainerID != v1.ID || res.Version != "v1" {
		t.Fatalf("redeploy: %+v", res)
	}
	if ch := env.rt.changesSince(n); len(ch) != 0 {
		t.Fatalf("an unchanged deploy changed the node: %v", ch)
	}

	changed := request("d-3", "v1")
	changed.Spec.Env = map[string]string{"LOG_LEVEL": "debug"}
	if res := env.deploy(changed); res.Outcome != Succeeded || res.ContainerID == v1.ID {
		t.Fatalf("new settings were not deployed: %+v", res)
	}
	env.wantState("v1:exited v1:running")
}

func TestDeploy_FailureRevertsToTheOldVersion(t *testing.T) {
	errNoSpace := errors.New("no space left on device")
	for _, tc := range []struct {
		name       string
		v2         *behaviour // nil: todo:v2 is not in the registry
		startFirst bool
		timeout    time.Duration
		phase      Phase
		why        string
		oldNote    string
	}{
		{"never healthy", &behaviour{health: "starting", logs: logLines(25)}, false, 40 * time.Millisecond, PhaseHealth,
			"health failed: not healthy within 40ms (the image's HEALTHCHECK; last: HEALTHCHECK starting)", "version v1 is serving again"},
		{"unhealthy, start-first", &behaviour{health: "unhealthy", logs: logLines(3)}, true, 0, PhaseHealth,
			"health failed: the image's HEALTHCHECK reports unhealthy", "version v1 is serving again"},
		{"exits", &behaviour{exits: true, exitCode: 3, logs: logLines(25)}, false, 0, PhaseHealth,
			"health failed: container exited with code 3 during the health gate", "version v1 is serving again"},
		{"cannot start", &behaviour{startErr: errNoSpace}, false, 0, PhaseStart,
			"start failed: cannot start the new container: no space left on device", "version v1 is serving again"},
		{"cannot pull", nil, false, 0, PhasePull,
			"pull failed: cannot pull todo:v2: manifest for todo:v2 not found", "version v1 was never stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.rt.publish("todo:v1", behaviour{logs: []string{"v1 up"}})
			if tc.v2 != nil {
				env.rt.publish("todo:v2", *tc.v2)
			}
			mk := request
			if tc.startFirst {
				mk = func(id, v string) Request { return startFirst(request(id, v)) }
			}
			env.deploy(mk("d-1", "v1"))
			v1 := env.serving()
			n := len(env.rt.callLog())

			r := mk("d-2", "v2")
			if tc.timeout > 0 {
				r.Health.Timeout = tc.timeout
			}
			res := env.deploy(r)
			if res.Outcome != Failed || res.FailedPhase != tc.phase || res.ContainerID != v1.ID || res.PreviousVersion != "v1" {
				t.Fatalf("result %+v", res)
			}
			if !strings.HasPrefix(res.Message, tc.why) || !strings.HasSuffix(res.Message, tc.oldNote) {
				t.Fatalf("message %q, want %q ... %q", res.Message, tc.why, tc.oldNote)
			}
			var wantTail []string
			if tc.v2 != nil && len(tc.v2.logs) > 0 {
				wantTail = tc.v2.logs[max(0, len(tc.v2.logs)-20):]
			}
			if !slices.Equal(res.LogTail, wantTail) {
				t.Fatalf("log tail %q, want %q", res.LogTail, wantTail)
			}
			if s := env.serving(); s.ID != v1.ID || s.Health != "healthy" {
				t.Fatalf("serving %s (%s), want the old container healthy", s.Labels[LabelVersion], s.Health)
			}
			env.wantState("v1:running")
			if tc.startFirst || tc.phase < PhaseStopOld {
				if slices.Contains(env.rt.callLog()[n:], "Stop "+v1.ID) {
					t.Fatal("the old container was stopped although the new one never replaced it")
				}
			}
			h := env.history()
			if len(h) != 2 || h[0].DeployID != "d-2" || h[0].Outcome != Failed || h[0].FailedPhase != tc.phase || !slices.Equal(h[0].LogTail, wantTail) {
				t.Fatalf("history %+v", h)
			}
			if env.current() != v1.ID || env.journal() != "none" {
				t.Fatalf("current %s (want %s), journal %s", env.current(), v1.ID, env.journal())
			}
		})
	}
}

func TestRollback_StartsTheRetainedVersion(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{})
	env.deploy(request("d-1", "v1"))
	v1 := env.serving()
	env.deploy(request("d-2", "v2"))

	res, err := env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: "r-1", Caller: "test"}, nil)
	if err != nil || res.Outcome != Succeeded || res.Kind != KindRollback || res.Version != "v1" || res.PreviousVersion != "v2" || res.ContainerID != v1.ID {
		t.Fatalf("rollback = %+v, %v", res, err)
	}
	if env.serving().ID != v1.ID || env.current() != v1.ID {
		t.Fatal("the retained v1 container is not the current one again")
	}
	env.wantState("v1:running v2:exited")

	_, err = env.e.Rollback(context.Background(), RollbackRequest{App: testApp, Version: "v0", DeployID: "r-2"}, nil)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "retained: v2") {
		t.Fatalf("rollback to a version never deployed: %v", err)
	}
}

func TestPrune_KeepsTheNewestStoppedVersions(t *testing.T) {
	env := newTestEnv(t)
	env.e.Retain = 2
	for _, v := range []string{"v1", "v2", "v3", "v4", "v5"} {
		env.rt.publish("todo:"+v, behaviour{})
		if res := env.deploy(request("d-"+v, v)); res.Outcome != Succeeded {
			t.Fatalf("deploy %s: %+v", v, res)
		}
	}
	env.wantState("v3:exited v4:exited v5:running")
	for v, want := range map[string]bool{"v1": false, "v2": false, "v3": true, "v4": true, "v5": true} {
		if env.rt.hasImage("todo:"+v) != want {
			t.Errorf("image todo:%s present: %v, want %v", v, !want, want)
		}
	}
	app, err := env.e.GetApp(context.Background(), testApp)
	if err != nil || !slices.Equal(app.RetainedVersions, []string{"v4", "v3"}) {
		t.Fatalf("retained %v, %v", app.RetainedVersions, err)
	}
}

func TestPrune_KeepsAnImageAnotherContainerUses(t *testing.T) {
	env := newTestEnv(t)
	env.e.Retain = 1
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{})
	env.deploy(request("d-1", "v1"))
	debug := request("d-2", "v1")
	debug.Spec.Env = map[string]string{"LOG_LEVEL": "debug"}
	env.deploy(debug)
	second := env.serving()
	n := len(env.rt.callLog())
	env.deploy(request("d-3", "v2"))

	env.wantState("v1:exited v2:running")
	if cs := env.rt.containersOf(testApp); cs[0].ID != second.ID {
		t.Fatal("prune removed the newer stopped container instead of the older one")
	}
	if !slices.Contains(env.rt.callLog()[n:], "RemoveImage "+second.ImageID) {
		t.Fatal("prune did not try to remove the pruned container's image")
	}
	if !env.rt.hasImage("todo:v1") {
		t.Fatal("the image of a retained container was removed")
	}
}

func TestDeploy_NewContainerThatCannotBeRemovedIsLeftToTheRepair(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{health: "unhealthy"})
	env.deploy(request("d-1", "v1"))
	v1 := env.serving()

	// Start-first, so the old container keeps running. With stop-first, a new
	// container that cannot be removed keeps running on the fixed host port,
	// and the old one cannot start again until the repair loop removes it.
	env.rt.fail("Remove", errors.New("conflict: removal of container is already in progress"))
	res := env.deploy(startFirst(request("d-2", "v2")))
	if res.Outcome != Failed || res.FailedPhase != PhaseHealth || res.ContainerID != v1.ID ||
		!strings.Contains(res.Message, "cannot remove the new container yet (the agent retries)") {
		t.Fatalf("result %+v", res)
	}
	env.wantState("v1:running v2:running")
	if env.journal() != "saved,new" {
		t.Fatalf("journal %s: the unfinished revert must stay journaled", env.journal())
	}

	env.rt.fail("Remove", nil)
	if err := env.e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	env.wantState("v1:running")
	if env.serving().ID != v1.ID || env.journal() != "none" || len(env.historyOf("d-2")) != 1 {
		t.Fatalf("after the repair: journal %s, history %+v", env.journal(), env.historyOf("d-2"))
	}
}
