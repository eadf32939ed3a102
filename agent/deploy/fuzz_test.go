package deploy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// historySeeds are history files as the store writes them and as crashes,
// disks and editors leave them; `go test` runs them as unit tests, and
// `go test -fuzz FuzzParseHistory` starts from them.
func historySeeds() [][]byte {
	line := func(r Result) string {
		b, _ := json.Marshal(r)
		return string(b) + "\n"
	}
	t0 := time.Date(2026, 12, 1, 3, 5, 41, 0, time.UTC)
	a := line(Result{DeployID: "d-1", App: "todo", Kind: KindDeploy, Outcome: Succeeded, Version: "v1", FinishedAt: t0, RequestHash: "ab12"})
	b := line(Result{DeployID: "d-2", App: "todo", Kind: KindDeploy, Outcome: Failed, FailedPhase: PhaseHealth,
		Message: "health failed: not healthy within 5s", LogTail: []string{"listening", "é ünïcode \u2028"}, FinishedAt: t0.Add(time.Minute)})
	return [][]byte{
		nil,
		[]byte("\n\n"),
		[]byte(a),
		[]byte(a + b),
		[]byte(a + `{"deploy_id":"torn","app":"to`),                   // a crash mid-append
		[]byte(a + "\n" + b),                                          // a blank line
		[]byte(a + "garbage\n" + b),                                   // a corrupt line
		[]byte("null\n{}\n[]\n"),                                      // JSON, but not results
		[]byte(`{"deploy_id":"x","app":"a"}{"deploy_id":"y"}` + "\n"), // two glued
		[]byte(line(Result{DeployID: "long", App: "todo", Message: strings.Repeat("m", 2<<20)}) + a), // past bufio's 64 KiB and 1 MiB
		[]byte(`{"deploy_id":"d","app":"todo","duration":1e400}` + "\n"),
		[]byte("\xff\xfe\x00{\n"),
	}
}

// FuzzParseHistory: any input either parses or is refused (naming a
// line), never panics; what parses is every complete line, and a torn
// tail changes nothing.
func FuzzParseHistory(f *testing.F) {
	for _, s := range historySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := parseHistory(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name the line", err)
			}
			return
		}
		complete := 0
		for _, l := range bytes.SplitAfter(b, []byte("\n")) {
			if bytes.HasSuffix(l, []byte("\n")) && len(bytes.TrimSpace(l)) > 0 {
				complete++
			}
		}
		if len(rs) != complete {
			t.Fatalf("%d results from %d complete lines", len(rs), complete)
		}
		var again []byte
		for _, r := range rs {
			if r.DeployID == "" {
				t.Fatal("a result without a deploy id")
			}
			line, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("a parsed result does not marshal: %v", err)
			}
			again = append(append(again, line...), '\n')
		}
		// What the store would write of them reads back the same, and a
		// torn append after it is ignored.
		rs2, err := parseHistory(append(again, `{"deploy_id":"torn`...))
		if err != nil || len(rs2) != len(rs) {
			t.Fatalf("re-encoded history: %d results, %v; want %d", len(rs2), err, len(rs))
		}
		for i := range rs {
			if rs2[i].DeployID != rs[i].DeployID || rs2[i].Message != rs[i].Message {
				t.Fatalf("result %d changed on a round trip: %+v then %+v", i, rs[i], rs2[i])
			}
		}
	})
}

// FuzzParseJournal: any input either parses into a journal naming its
// deploy and app, which reads back the same once written, or is refused;
// it never panics.
func FuzzParseJournal(f *testing.F) {
	good, _ := json.Marshal(Journal{DeployID: "d-2", Kind: KindDeploy, App: "todo", Version: "v2", Image: "todo:v2", Caller: "ci",
		StartedAt: time.Date(2026, 12, 1, 3, 5, 41, 0, time.UTC), OldContainer: "abc", OldVersion: "v1", OldRunning: true,
		NewContainer: "def", Committed: true, RequestHash: "ab12"})
	for _, s := range [][]byte{
		good,
		good[:len(good)/2], // torn (a journal is written atomically, so not by the store)
		nil,
		[]byte("{}"),
		[]byte("null"),
		[]byte(`{"deploy_id":"d","app":"todo"} trailing`),
		[]byte(`{"deploy_id":"d","app":"todo","kind":"x"}`),
		[]byte(`{"deploy_id":"d","app":"todo","started_at":"not a time"}`),
		[]byte(`{"deploy_id":"d","app":"todo","committed":1}`),
		append(bytes.Repeat([]byte(" "), 1<<16), good...),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := parseJournal(b)
		if err != nil {
			return
		}
		if j.DeployID == "" || j.App == "" {
			t.Fatalf("a journal without its deploy id or app: %+v", j)
		}
		out, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("a parsed journal does not marshal: %v", err)
		}
		j2, err := parseJournal(out)
		if err != nil {
			t.Fatalf("a written journal does not read back: %v", err)
		}
		out2, _ := json.Marshal(j2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("a journal changed on a round trip:\n%s\n%s", out, out2)
		}
	})
}
