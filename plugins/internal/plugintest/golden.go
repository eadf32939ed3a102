package plugintest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// GoldenDir holds the golden files, one per plugin and case.
var GoldenDir = filepath.Join(labtest.RepoRoot(), "plugins", "checks", "testdata", "golden")

// defaults apply after a test's own normalisations: test-specific values
// (node names, image references, measured perfdata) are replaced first,
// then what varies in every run.
var defaults = []Norm{
	Regexp(`\b[0-9a-f]{12,64}\b`, "HEX"),
	Regexp(`/tmp/[^\s'",;)]+`, "TMPPATH"),
	Regexp(`\b127\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+\b`, "ADDR"),
	Regexp(`\b127\.[0-9]+\.[0-9]+\.[0-9]+\b`, "IP"),
	Regexp(`\bDocker (Engine )?[0-9][^\s,;)]*`, "Docker ${1}VERSION"),
	Regexp(`\(API [0-9][0-9.]*\)`, "(API VERSION)"),
	// Durations as Go and the plugins print them (2ms, 1.5s, 5m10s, 0.0015s in perfdata).
	Regexp(`\b(?:[0-9]+(?:\.[0-9]+)?(?:h|ms|m|s|µs|us|ns))+\b`, "DURATION"),
}

// Normalise applies norms, then the defaults.
func Normalise(s string, norms ...Norm) string {
	for _, n := range append(append([]Norm{}, norms...), defaults...) {
		s = n.re.ReplaceAllString(s, n.repl)
	}
	return s
}

// Golden compares the normalised run (exit code and output) with
// testdata/golden/NAME.txt, or rewrites the file with -update.
func Golden(t testing.TB, name string, r Result, norms ...Norm) {
	t.Helper()
	got := fmt.Sprintf("exit %d (%s)\n%s", r.Code, r.Status(), Normalise(r.Out, norms...))
	path := filepath.Join(GoldenDir, name+".txt")
	if *Update {
		if err := os.MkdirAll(GoldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (run go test ./plugins/checks -update to create it)\ngot:\n%s", name, err, got)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./plugins/checks -update rewrites it)\n--- want\n%s--- got\n%s--- raw output\n%s",
			name, want, got, r.Out)
	}
}

// AgentVersion returns a normalisation of the version the test agents
// report (a development build: "dev", "dev-0123456789ab" or a
// pseudo-version), asked of a, which must run in labtest.Insecure mode.
func AgentVersion(t testing.TB, a *labtest.Agent) Norm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := a.Client(t).GetInfo(ctx, &agentv1.GetInfoRequest{})
	if err != nil {
		t.Fatalf("GetInfo on %s: %v", a.Addr, err)
	}
	return Regexp(`(^|[\s"])`+regexp.QuoteMeta(info.GetAgentVersion())+`([\s",]|$)`, "${1}VERSION${2}")
}
