package deploy

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// crashAt runs do (a deploy or rollback) and kills it, as SIGKILL would
// (nothing after that point runs), when it enters phase p: where the
// labfleet_faultinject build pauses for the real agent's crash tests. With
// afterCall set, it kills it instead right after that runtime call within
// phase p. It fails the test if the run never gets there.
func (env *testEnv) crashAt(p Phase, afterCall string, do func(emit func(Event))) {
	env.t.Helper()
	phase, crashed := PhaseNone, false
	env.rt.setAfter(func(method, _ string) {
		if afterCall != "" && method == afterCall && phase == p {
			crashed = true
			runtime.Goexit()
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		do(func(ev Event) {
			phase = ev.Phase
			if afterCall == "" && ev.Phase == p {
				crashed = true
				runtime.Goexit()
			}
		})
	}()
	<-done
	env.rt.setAfter(nil)
	if !crashed {
		env.t.Fatalf("the run ended without reaching phase %s (call %q)", p, afterCall)
	}
}

// TestReconcile_AfterACrashInEveryPhase kills a deploy of v2 over a serving
// v1 in each phase (in every strategy and path that phase is in), starts a
// new engine on what is left and reconciles: exactly one version serves,
// nothing half-made remains, and history says what became of the deploy.
func TestReconcile_AfterACrashInEveryPhase(t *testing.T) {
	type crashCase struct {
		name       string
		phase      Phase
		afterCall  string // crash right after this runtime call in phase, else on entering it
		startFirst bool
		failing    bool // v2 is unhealthy, so the deploy is on its failure path
		rollback   bool // the run is a rollback of v2 to the retained v1
		// atCrash is the state the crash leaves: containers and journal.
		atCrash, journal string
		// after reconcile: containers, the serving version and what history records.
		after   string
		serving string
		outcome Outcome // OutcomeNone: nothing is recorded
	}
	cases := []crashCase{
		{name: "idle", phase: PhaseNone, atCrash: "v1:running", journal: "none", after: "v1:running", serving: "v1"},
		{name: "lock", phase: PhaseLock, atCrash: "v1:running", journal: "none", after: "v1:running", serving: "v1"},
		{name: "pull", phase: PhasePull, atCrash: "v1:running", journal: "none", after: "v1:running", serving: "v1"},
		{name: "create", phase: PhaseCreate, atCrash: "v1:running", journal: "saved",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "create, created not journaled", phase: PhaseCreate, afterCall: "Create", atCrash: "v1:running v2:created", journal: "saved",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "stop-old", phase: PhaseStopOld, atCrash: "v1:running v2:created", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "stop-old, stopped", phase: PhaseStopOld, afterCall: "Stop", atCrash: "v1:exited v2:created", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "stop-old, start-first", phase: PhaseStopOld, startFirst: true, atCrash: "v1:running v2:running", journal: "saved,new,committed",
			after: "v1:exited v2:running", serving: "v2", outcome: Succeeded},
		{name: "start", phase: PhaseStart, atCrash: "v1:exited v2:created", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "start, started", phase: PhaseStart, afterCall: "Start", atCrash: "v1:exited v2:running", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "start, start-first", phase: PhaseStart, startFirst: true, atCrash: "v1:running v2:created", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "health", phase: PhaseHealth, atCrash: "v1:exited v2:running", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "health, start-first", phase: PhaseHealth, startFirst: true, atCrash: "v1:running v2:running", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "prune", phase: PhasePrune, atCrash: "v1:exited v2:running", journal: "saved,new,committed",
			after: "v1:exited v2:running", serving: "v2", outcome: Succeeded},
		{name: "prune, start-first", phase: PhasePrune, startFirst: true, atCrash: "v1:exited v2:running", journal: "saved,new,committed",
			after: "v1:exited v2:running", serving: "v2", outcome: Succeeded},
		{name: "record", phase: PhaseRecord, atCrash: "v1:exited v2:running", journal: "saved,new,committed",
			after: "v1:exited v2:running", serving: "v2", outcome: Succeeded},
		{name: "record, failed", phase: PhaseRecord, failing: true, atCrash: "v1:running", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "revert", phase: PhaseRevert, failing: true, atCrash: "v1:exited v2:running", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "revert, new removed", phase: PhaseRevert, failing: true, afterCall: "Remove", atCrash: "v1:exited", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		{name: "revert, start-first", phase: PhaseRevert, failing: true, startFirst: true, atCrash: "v1:running v2:running", journal: "saved,new",
			after: "v1:running", serving: "v1", outcome: Interrupted},
		// A rollback's new container is the retained v1: stopped, never removed.
		{name: "health, rollback", phase: PhaseHealth, rollback: true, atCrash: "v1:running v2:exited", journal: "saved,new,retained",
			after: "v1:exited v2:running", serving: "v2", outcome: Interrupted},
		{name: "record, rollback", phase: PhaseRecord, rollback: true, atCrash: "v1:running v2:exited", journal: "saved,new,retained,committed",
			after: "v1:running v2:exited", serving: "v1", outcome: Succeeded},
	}

	covered := map[Phase]bool{}
	for _, c := range cases {
		covered[c.phase] = true
	}
	for i, name := range definedPhases(t) {
		if p := Phase(i); !covered[p] {
			t.Errorf("no crash case for %s (%q): add one to this table", name, p)
		}
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.rt.publish("todo:v1", behaviour{})
			v2 := behaviour{}
			if tc.failing {
				v2.health = "unhealthy"
			}
			env.rt.publish("todo:v2", v2)
			mk := request
			if tc.startFirst {
				mk = func(id, v string) Request { return startFirst(request(id, v)) }
			}
			env.deploy(mk("d-1", "v1"))
			id := "d-2"
			if tc.rollback {
				env.deploy(mk("d-2", "v2"))
				id = "r-1"
			}

			if tc.phase != PhaseNone {
				env.crashAt(tc.phase, tc.afterCall, func(emit func(Event)) {
					if tc.rollback {
						_, _ = env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: id, Caller: "test"}, emit)
					} else {
						_, _ = env.e.Deploy(context.Background(), mk(id, "v2"), emit)
					}
				})
			}
			if got := env.rt.state(testApp); got != tc.atCrash || env.journal() != tc.journal {
				t.Fatalf("at the crash: containers %q journal %q, want %q %q", got, env.journal(), tc.atCrash, tc.journal)
			}

			env.restart()
			if err := env.e.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			env.wantState(tc.after)
			s := env.serving()
			if v := s.Labels[LabelVersion]; v != tc.serving {
				t.Fatalf("serving %s, want %s", v, tc.serving)
			}
			if env.current() != s.ID || env.journal() != "none" {
				t.Fatalf("current %s (serving %s), journal %s", env.current(), s.ID, env.journal())
			}
			h := env.historyOf(id)
			switch {
			case tc.outcome == OutcomeNone && len(h) != 0:
				t.Fatalf("history records %+v for a deploy that changed nothing", h)
			case tc.outcome == OutcomeNone:
			case len(h) != 1:
				t.Fatalf("history of %s: %+v, want one %s", id, h, tc.outcome)
			case h[0].Outcome != tc.outcome || h[0].ContainerID != s.ID || h[0].Caller != "test":
				t.Fatalf("history of %s: %+v, want %s with container %s", id, h[0], tc.outcome, s.ID)
			case tc.outcome == Interrupted && !strings.HasSuffix(h[0].Message, "and version "+tc.serving+" runs again"):
				t.Fatalf("message %q does not say the old version runs again", h[0].Message)
			}

			// The node is fit for the next deploy.
			env.rt.publish("todo:v3", behaviour{})
			if res := env.deploy(mk("d-next", "v3")); res.Outcome != Succeeded || env.serving().Labels[LabelVersion] != "v3" {
				t.Fatalf("the next deploy: %+v", res)
			}
		})
	}
}

// A deploy id re-sent after a crash, before the repair loop got to it (or
// while the deploy waited out the repair loop), is finished by the repair
// before the deploy runs: it must replay that record, not run the id again.
func TestDeploy_ResentCrashedDeployIDReplaysTheRepair(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		t.Run(map[bool]string{false: "deploy", true: "rollback"}[rollback], func(t *testing.T) {
			env := newTestEnv(t)
			env.rt.publish("todo:v1", behaviour{})
			env.rt.publish("todo:v2", behaviour{})
			env.deploy(request("d-1", "v1"))
			if rollback {
				env.deploy(request("d-2", "v2"))
			}
			serving := env.serving()
			run := func(emit func(Event)) Result {
				var res Result
				var err error
				if rollback {
					res, err = env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: "x-1"}, emit)
				} else {
					res, err = env.e.Deploy(context.Background(), request("x-1", "v2"), emit)
				}
				if err != nil {
					t.Error(err)
				}
				return res
			}
			env.crashAt(PhaseHealth, "", func(emit func(Event)) { run(emit) })
			env.restart()

			res := run(nil)
			if !res.Replayed || res.Outcome != Interrupted || res.ContainerID != serving.ID {
				t.Errorf("re-sent x-1: %+v; want its repair (interrupted) replayed", res)
			}
			if h := env.historyOf("x-1"); len(h) != 1 {
				t.Errorf("x-1 is recorded %d times: %+v", len(h), h)
			}
			if env.serving().ID != serving.ID {
				t.Errorf("containers %s: the re-sent id ran again", env.rt.state(testApp))
			}
		})
	}
}

// definedPhases returns the names of the Phase constants declared in this
// package, in order (they are iota: Phase(i) is the i-th), so a new phase
// fails the test above until it has a crash case.
func definedPhases(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			typ := ""
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); ok {
					typ = id.Name
				} else if vs.Type != nil || len(vs.Values) > 0 {
					typ = ""
				}
				if typ == "Phase" {
					for _, n := range vs.Names {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	if len(names) < 2 || Phase(len(names)-1).String() == "unknown" {
		t.Fatalf("phase constants %v: each needs a name in phaseNames", names)
	}
	return names
}
