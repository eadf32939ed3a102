package deploy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tight shrinks the engine's limits so a deadline passes within a test:
// a deploy of request() may take 50ms (pull) + 100ms (margin), then 50ms
// (stop) + its gate + 100ms (margin).
func (env *testEnv) tight() {
	env.e.PullAllowance = 50 * time.Millisecond
	env.e.lim = limits{stopGrace: 50 * time.Millisecond, margin: 100 * time.Millisecond, minInterval: time.Millisecond}
}

// within runs f and fails the test if it has not returned after limit:
// what these tests look for is a hang, not a speed.
func within[T any](t *testing.T, limit time.Duration, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(limit):
		t.Fatalf("%s still runs after %s: it hangs", what, limit)
		panic("unreachable")
	}
}

func TestDeploy_DeadlineEndsAHungStepRevertsAndReleasesTheLock(t *testing.T) {
	const pullStage, restStage = "(pull allowance 50ms + margin 100ms)", "(stop 50ms + health gate 100ms + margin 100ms, counted from when the image was ready)"
	for _, tc := range []struct {
		method string
		phase  Phase
		stage  string
		note   string
	}{
		{"Pull", PhasePull, pullStage, "version v1 was never stopped"},
		{"Create", PhaseCreate, restStage, "version v1 was never stopped"},
		{"Stop", PhaseStopOld, restStage, "version v1 is serving again"},
		{"Start", PhaseStart, restStage, "version v1 is serving again"},
		{"Inspect", PhaseHealth, restStage, "version v1 is serving again"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			env := newTestEnv(t)
			env.rt.publish("todo:v1", behaviour{})
			env.rt.publish("todo:v2", behaviour{})
			env.rt.publish("todo:v3", behaviour{})
			env.deploy(request("d-1", "v1"))
			v1 := env.serving()
			env.tight()

			env.rt.hang(tc.method, 1)
			r := request("d-2", "v2")
			r.Health.Timeout = 100 * time.Millisecond
			res := within(t, 10*time.Second, "a deploy with a hung "+tc.method, func() Result { return env.deploy(r) })
			if res.Outcome != Failed || res.FailedPhase != tc.phase || res.ContainerID != v1.ID {
				t.Fatalf("result %+v", res)
			}
			wantWhy := "deadline exceeded after "
			if !strings.HasPrefix(res.Message, tc.phase.String()+" failed: "+wantWhy) || !strings.Contains(res.Message, tc.stage) ||
				!strings.HasSuffix(res.Message, tc.note) {
				t.Fatalf("message %q, want the deadline, its parts and %q", res.Message, tc.note)
			}
			if s := env.serving(); s.ID != v1.ID {
				t.Fatalf("serving %s", s.Labels[LabelVersion])
			}
			env.wantState("v1:running")
			if h := env.historyOf("d-2"); len(h) != 1 || !strings.Contains(h[0].Message, wantWhy) {
				t.Fatalf("history of d-2: %+v", h)
			}
			if env.e.locked(testApp) || env.journal() != "none" {
				t.Fatalf("after the deadline: locked %v, journal %s", env.e.locked(testApp), env.journal())
			}
			if res := env.deploy(request("d-3", "v3")); res.Outcome != Succeeded {
				t.Fatalf("the next deploy: %+v", res)
			}
		})
	}
}

func TestHealthGate_NeverSleepsPastItsDeadline(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{health: "starting"})
	r := request("d-1", "v1")
	r.Health.Timeout, r.Health.Interval = 100*time.Millisecond, time.Hour
	res := within(t, 10*time.Second, "a 100ms gate probing every hour", func() Result { return env.deploy(r) })
	if res.Outcome != Failed || res.FailedPhase != PhaseHealth || !strings.Contains(res.Message, "not healthy within 100ms") {
		t.Fatalf("result %+v", res)
	}
}

func TestHealthGate_IntervalHasAFloor(t *testing.T) {
	env := newTestEnv(t)
	env.e.lim.minInterval = MinHealthInterval
	env.rt.publish("todo:v1", behaviour{health: "starting"})
	r := request("d-1", "v1")
	r.Health.Timeout, r.Health.Interval = 450*time.Millisecond, time.Nanosecond
	res := env.deploy(r)
	if res.Outcome != Failed || res.FailedPhase != PhaseHealth {
		t.Fatalf("result %+v", res)
	}
	inspects := 0
	for _, c := range env.rt.callLog() {
		if strings.HasPrefix(c, "Inspect ") {
			inspects++
		}
	}
	// 450ms at one probe per 100ms is 5 or 6 probes; at 1ns, thousands.
	if inspects > 10 {
		t.Fatalf("the gate inspected the container %d times in 450ms: the interval has no floor", inspects)
	}
}

// An app whose /healthz takes longer than twice the interval still passes:
// a probe's timeout depends on the time the gate has left, not on the interval.
func TestHealthGate_ProbeTimeoutDoesNotShrinkWithTheInterval(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	hostPort, _ := strconv.Atoi(port)

	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	r := request("d-1", "v1")
	r.Spec.Ports = []Port{{HostPort: hostPort, ContainerPort: 8000}}
	r.Health = Health{Type: HealthHTTP, Path: "/healthz", Timeout: 3 * time.Second, Interval: 10 * time.Millisecond}
	if res := env.deploy(r); res.Outcome != Succeeded {
		t.Fatalf("a slow but healthy app: %+v", res)
	}
}

// The repair loop runs outside any deploy: a hung engine call must not
// hold the app's lock (and so every later deploy of it) for ever.
func TestReconcile_AHungEngineCallEnds(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{})
	env.rt.publish("todo:v3", behaviour{})
	v1 := request("d-1", "v1")
	v1.Health.Timeout = 200 * time.Millisecond // the repair's budget includes v1's gate
	env.deploy(v1)
	env.crashAt(PhaseHealth, "", func(emit func(Event)) { _, _ = env.e.Deploy(context.Background(), request("d-2", "v2"), emit) })
	env.restart()
	env.tight()

	env.rt.hang("Remove", 1)
	err := within(t, 10*time.Second, "Reconcile with a hung Remove", func() error { return env.e.Reconcile(context.Background()) })
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || env.e.locked(testApp) {
		t.Fatalf("Reconcile = %v, locked %v", err, env.e.locked(testApp))
	}
	if err := env.e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	env.wantState("v1:running")
	if res := env.deploy(request("d-3", "v3")); res.Outcome != Succeeded {
		t.Fatalf("the next deploy: %+v", res)
	}
}

func TestDeploy_StopTimeoutRoundsUpToWholeSeconds(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	for i, tc := range []struct{ in, want time.Duration }{
		{0, 0}, {300 * time.Millisecond, time.Second}, {1500 * time.Millisecond, 2 * time.Second}, {2 * time.Second, 2 * time.Second},
	} {
		r := request(fmt.Sprintf("d-%d", i), "v1")
		r.Spec.StopTimeout = tc.in
		res := env.deploy(r)
		if got := env.rt.config(res.ContainerID).StopTimeout; got != tc.want {
			t.Errorf("stop timeout %s: the container gets %s, want %s", tc.in, got, tc.want)
		}
	}
}
