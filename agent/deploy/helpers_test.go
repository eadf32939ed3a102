package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// testApp is the app the engine tests deploy.
const testApp = "todo"

// testEnv is one node: a fake container engine and a state dir that
// outlive any one Engine, as Docker and --state-dir outlive the agent.
type testEnv struct {
	t   *testing.T
	rt  *fakeRuntime
	dir string
	e   *Engine
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	env := &testEnv{t: t, rt: newFakeRuntime(), dir: t.TempDir()}
	env.restart()
	return env
}

// restart replaces the engine by a new one on the same state dir and
// runtime, as an agent restart does.
func (env *testEnv) restart() {
	env.t.Helper()
	s, err := OpenStore(env.dir)
	if err != nil {
		env.t.Fatal(err)
	}
	env.e = New(env.rt, s, "node1", "127.0.0.1", slog.New(slog.DiscardHandler))
	// The gates here poll a fake every 2 ms; the floor is tested by itself.
	env.e.lim.minInterval = time.Millisecond
}

// request deploys todo:<version> stop-first on the fixed host port 8000,
// gated by the image's HEALTHCHECK polled every 2 ms.
func request(id, version string) Request {
	return Request{App: testApp, Image: "todo:" + version, DeployID: id, Version: version, Caller: "test",
		Spec:   Spec{Ports: []Port{{HostPort: 8000, ContainerPort: 8000}}},
		Health: Health{Type: HealthDocker, Timeout: 2 * time.Second, Interval: 2 * time.Millisecond}}
}

// startFirst turns r into a start-first deploy, which needs an engine-picked host port.
func startFirst(r Request) Request {
	r.StartFirst = true
	r.Spec.Ports = []Port{{ContainerPort: 8000}}
	return r
}

// deploy runs r and fails the test on an error (a recorded failure is no error).
func (env *testEnv) deploy(r Request) Result {
	env.t.Helper()
	res, err := env.e.Deploy(context.Background(), r, nil)
	if err != nil {
		env.t.Fatalf("deploy %s of %s: %v", r.DeployID, r.Image, err)
	}
	return res
}

// serving returns the app's running container and fails unless exactly one runs.
func (env *testEnv) serving() Container {
	env.t.Helper()
	var running []Container
	for _, c := range env.rt.containersOf(testApp) {
		if c.Running {
			running = append(running, c)
		}
	}
	if len(running) != 1 {
		env.t.Fatalf("want exactly one running container of %s, have %q", testApp, env.rt.state(testApp))
	}
	return running[0]
}

// wantState fails unless the app's containers, oldest first, are want ("v1:exited v2:running").
func (env *testEnv) wantState(want string) {
	env.t.Helper()
	if got := env.rt.state(testApp); got != want {
		env.t.Fatalf("containers of %s: have %q, want %q", testApp, got, want)
	}
}

// history returns the app's recorded results, newest first, as a fresh
// agent would read them from disk.
func (env *testEnv) history() []Result {
	env.t.Helper()
	s, err := OpenStore(env.dir)
	if err != nil {
		env.t.Fatal(err)
	}
	h, err := s.History(testApp, 0)
	if err != nil {
		env.t.Fatal(err)
	}
	return h
}

// historyOf returns the results recorded for deploy id, oldest first.
func (env *testEnv) historyOf(id string) []Result {
	var out []Result
	h := env.history()
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].DeployID == id {
			out = append(out, h[i])
		}
	}
	return out
}

// journal describes the app's journal: "none" or which steps it records.
func (env *testEnv) journal() string {
	env.t.Helper()
	js, err := env.e.store.Journals()
	if err != nil {
		env.t.Fatal(err)
	}
	var out []string
	for _, j := range js {
		if j.App == testApp {
			out = append(out, journalState(j))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

func journalState(j Journal) string {
	s := "saved"
	if j.NewContainer != "" {
		s += ",new"
	}
	if j.NewIsRetained {
		s += ",retained"
	}
	if j.Committed {
		s += ",committed"
	}
	return s
}

// current is the container id the store records as the app's current one.
func (env *testEnv) current() string {
	c, _ := env.e.store.GetCurrent(testApp)
	return c.ContainerID
}

// logLines makes n numbered log lines.
func logLines(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("log line %d", i))
	}
	return out
}
