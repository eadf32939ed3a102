package deploy

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStore_HistoryIdempotencyAndTornLine(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i, id := range []string{"a", "b", "c"} {
		if err := s.Record(Result{DeployID: id, App: "web", Outcome: Succeeded, FinishedAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	// A crash mid-append leaves half a line; it is ignored.
	f, _ := os.OpenFile(filepath.Join(dir, "history", "web.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"deploy_id":"d","app":"we`)
	f.Close()

	s2, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.Finished("b"); !ok {
		t.Fatal("a finished deploy id was forgotten across a reopen")
	}
	if _, ok := s2.Finished("d"); ok {
		t.Fatal("a torn line was taken as a finished deploy")
	}
	h, err := s2.History("", 2)
	if err != nil || len(h) != 2 || h[0].DeployID != "c" || h[1].DeployID != "b" {
		t.Fatalf("History newest first, limited: %+v %v", h, err)
	}
	if string(s2.Key()) != string(s.Key()) || len(s.Key()) != 32 {
		t.Fatal("the spec-hash key changed across a reopen")
	}
}

func TestStore_Journal(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j := Journal{DeployID: "x", App: "web", OldContainer: "old", NewContainer: "new", OldRunning: true}
	if err := s.SaveJournal(j); err != nil {
		t.Fatal(err)
	}
	js, err := s.Journals()
	if err != nil || len(js) != 1 || js[0] != j {
		t.Fatalf("Journals = %+v, %v", js, err)
	}
	if err := s.DropJournal("web"); err != nil {
		t.Fatal(err)
	}
	if js, _ := s.Journals(); len(js) != 0 {
		t.Fatalf("journal not dropped: %+v", js)
	}
	if err := s.DropJournal("web"); err != nil {
		t.Fatalf("dropping a missing journal: %v", err)
	}
}
