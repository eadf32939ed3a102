package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// wantBlocked fails unless err is a *StateError for app's kind of file,
// quarantined beside the original (which is gone), naming the repair.
func wantBlocked(t *testing.T, err error, app, kind string) *StateError {
	t.Helper()
	var se *StateError
	if !errors.Is(err, ErrCorruptState) || !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *StateError (ErrCorruptState)", err)
	}
	if se.App != app || se.Kind != kind || !strings.Contains(filepath.Base(se.File), quarantineMark) {
		t.Fatalf("StateError %+v, want app %s's %s quarantined", se, app, kind)
	}
	if _, err := os.Stat(se.File); err != nil {
		t.Fatalf("the quarantined file: %v", err)
	}
	for _, want := range []string{se.File, "delete", "to unblock " + app} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	return se
}

func otherRequest(id string) Request {
	r := request(id, "v1")
	r.App, r.Spec = "other", Spec{}
	return r
}

func TestStore_CorruptJournalBlocksOnlyItsAppUntilRepaired(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{})
	env.deploy(request("d-1", "v1"))
	env.deploy(otherRequest("o-1"))
	env.deploy(request("d-2", "v2"))
	journal := filepath.Join(env.dir, "journal", testApp+".json")
	if err := os.WriteFile(journal, []byte(`{"deploy_id":"d-3","app":"todo","new_cont`), 0o600); err != nil {
		t.Fatal(err)
	}

	// At the agent's start the repair names it once and repairs the others.
	env.restart()
	err := env.e.Reconcile(context.Background())
	se := wantBlocked(t, err, testApp, kindJournal)
	if !strings.Contains(err.Error(), "labcontroller status --app todo") {
		t.Errorf("the repair does not say how to check the app: %v", err)
	}
	if _, err := os.Stat(journal); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the corrupt journal is still in place: %v", err)
	}
	if err := env.e.Reconcile(context.Background()); err != nil {
		t.Fatalf("a second repair pass: %v; the blocked app is skipped quietly", err)
	}
	n := env.rt.changeCount()

	_, err = env.e.Deploy(context.Background(), request("d-4", "v1"), nil)
	wantBlocked(t, err, testApp, kindJournal)
	_, err = env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: "r-1"}, nil)
	wantBlocked(t, err, testApp, kindJournal)
	_, err = env.e.History(testApp, 0)
	wantBlocked(t, err, testApp, kindJournal)
	if ch := env.rt.changesSince(n); len(ch) != 0 {
		t.Fatalf("the blocked app's containers were touched: %v", ch)
	}

	if res := env.deploy(otherRequest("o-2")); res.Outcome != Unchanged {
		t.Fatalf("another app must deploy: %+v", res)
	}
	if h, err := env.e.History("", 0); err != nil || len(h) != 2 || h[0].App != "other" {
		t.Fatalf("History of all apps leaves the blocked one out: %+v, %v", h, err)
	}

	if err := os.Remove(se.File); err != nil {
		t.Fatal(err)
	}
	if res := env.deploy(request("d-4", "v1")); res.Outcome != Succeeded || res.PreviousVersion != "v2" {
		t.Fatalf("the deploy after the repair: %+v", res)
	}
}

func TestStore_CorruptHistoryIsQuarantinedAndBlocksOnlyItsApp(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{})
	env.deploy(request("d-1", "v1"))
	env.deploy(otherRequest("o-1"))
	env.deploy(request("d-2", "v2"))
	hist := filepath.Join(env.dir, "history", testApp+".jsonl")
	good, err := os.ReadFile(hist)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	bad := lines[0] + "\x00\x00garbage from a bad disk\n" + strings.Join(lines[1:], "")
	if err := os.WriteFile(hist, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}

	env.restart()
	err = env.e.store.Check(testApp)
	se := wantBlocked(t, err, testApp, kindHistory)
	if !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "into "+hist) {
		t.Errorf("the error names neither the bad line nor where the good ones go: %v", err)
	}
	_, err = env.e.Deploy(context.Background(), request("d-3", "v1"), nil)
	wantBlocked(t, err, testApp, kindHistory)
	if res := env.deploy(otherRequest("o-2")); res.Outcome != Unchanged {
		t.Fatalf("another app must deploy: %+v", res)
	}
	// The agent's first repair pass reports what was quarantined at start
	// (the agent logs it), once.
	wantBlocked(t, env.e.Reconcile(context.Background()), testApp, kindHistory)
	if err := env.e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The operator keeps the good lines and unblocks the app: its ids are
	// known again, so a re-sent one replays.
	if err := os.WriteFile(hist, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(se.File); err != nil {
		t.Fatal(err)
	}
	res, err := env.e.Deploy(context.Background(), request("d-2", "v2"), nil)
	if err != nil || !res.Replayed {
		t.Fatalf("re-sent d-2 after the repair: %+v, %v", res, err)
	}
}

// A history line of any length (a result with a huge message) hides
// neither the lines after it nor their ids.
func TestStore_LongHistoryLinesHideNothing(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{})
	env.deploy(request("d-1", "v1"))
	huge := Result{DeployID: "huge", App: testApp, Kind: KindDeploy, Outcome: Failed, Message: strings.Repeat("x", 3<<20), FinishedAt: time.Now()}
	if err := env.e.store.Record(huge); err != nil {
		t.Fatal(err)
	}
	env.deploy(request("d-2", "v2"))

	env.restart()
	h := env.history()
	if ids := []string{h[0].DeployID, h[1].DeployID, h[2].DeployID}; len(h) != 3 || !slices.Equal(ids, []string{"d-2", "huge", "d-1"}) {
		t.Fatalf("history after a 3 MiB line: %d entries", len(h))
	}
	if res, err := env.e.Deploy(context.Background(), request("d-2", "v2"), nil); err != nil || !res.Replayed {
		t.Fatalf("re-sent d-2, recorded after the long line: %+v, %v", res, err)
	}
}

// A crash mid-append leaves a torn line; the next append must not run
// into it (which would make both unreadable).
func TestStore_TornLineDoesNotSwallowTheNextRecord(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(Result{DeployID: "a", App: "web"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "history", "web.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"deploy_id":"torn","app":"we`)
	f.Close()
	if err := s.Record(Result{DeployID: "b", App: "web"}); err != nil {
		t.Fatal(err)
	}

	s2, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Check("web"); err != nil {
		t.Fatalf("the history was found corrupt: %v", err)
	}
	h, err := s2.History("web", 0)
	if err != nil || len(h) != 2 {
		t.Fatalf("History = %+v, %v; want a and b", h, err)
	}
	if _, ok := s2.Finished("b"); !ok {
		t.Fatal("the record after the torn line was lost")
	}
}
