package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// fakeAgents records calls; nodes in fail fail their deploy.
type fakeAgents struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]bool
}

func (f *fakeAgents) Apply(_ context.Context, n Node) (*agentv1.DeployResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "apply "+n.Name)
	if f.fail[n.Name] {
		return &agentv1.DeployResult{Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED, Version: "v2", PreviousVersion: "v1"}, nil
	}
	return &agentv1.DeployResult{Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED, Version: "v2", PreviousVersion: "v1"}, nil
}

func (f *fakeAgents) Revert(_ context.Context, n Node, v string) (*agentv1.DeployResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "revert "+n.Name+" "+v)
	return &agentv1.DeployResult{Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED, Version: v}, nil
}

// fakeLB tracks server states; down servers fail health.
type fakeLB struct {
	mu     sync.Mutex
	state  map[string]string
	down   map[string]bool
	log    []string
	broken bool
}

func (l *fakeLB) Check(_ context.Context, servers []string) error {
	if l.broken {
		return errors.New("cannot connect to the admin socket")
	}
	return nil
}
func (l *fakeLB) SetState(_ context.Context, s, st string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state[s] = st
	l.log = append(l.log, s+"="+st)
	return nil
}
func (l *fakeLB) WaitDrained(context.Context, string) error { return nil }
func (l *fakeLB) WaitUp(context.Context, string) error      { return nil }
func (l *fakeLB) Up(_ context.Context, s string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down[s] && l.state[s] != "drain", nil
}

type nopRep struct{}

func (nopRep) NodeStart(Node, string)  {}
func (nopRep) Note(Node, string)       {}
func (nopRep) NodeDone(Node, *Outcome) {}

func nodes(n int) []Node {
	var out []Node
	for i := 1; i <= n; i++ {
		out = append(out, Node{Name: fmt.Sprintf("node%d", i), Server: fmt.Sprintf("node%d", i)})
	}
	return out
}

func TestRun_StopsAtFirstFailureAndRevertsEarlierNodes(t *testing.T) {
	ag := &fakeAgents{fail: map[string]bool{"node2": true}}
	lb := &fakeLB{state: map[string]string{}, down: map[string]bool{}}
	s := Run(context.Background(), Plan{Nodes: nodes(3), Batch: 1, AutoRevert: true}, ag, lb, nopRep{})
	if s.Failed == nil || s.Failed.Node.Name != "node2" {
		t.Fatalf("failed node = %v", s.Failed)
	}
	want := "apply node1,apply node2,revert node1 v1"
	if got := strings.Join(ag.calls, ","); got != want {
		t.Fatalf("calls = %s, want %s", got, want)
	}
	if !s.Nodes[2].Skipped || s.Nodes[0].Running() != "v1" || s.Nodes[1].Running() != "v1" {
		t.Fatalf("outcomes: %+v %+v %+v", s.Nodes[0], s.Nodes[1], s.Nodes[2])
	}
	for _, st := range lb.state {
		if st != "ready" {
			t.Fatalf("a server was left %s: %v", st, lb.log)
		}
	}
}

func TestRun_NoAutoRevertKeepsTheNewVersion(t *testing.T) {
	ag := &fakeAgents{fail: map[string]bool{"node2": true}}
	s := Run(context.Background(), Plan{Nodes: nodes(2), Batch: 1}, ag, nil, nopRep{})
	if got := strings.Join(ag.calls, ","); got != "apply node1,apply node2" || s.Nodes[0].Running() != "v2" {
		t.Fatalf("calls %s, node1 runs %s", got, s.Nodes[0].Running())
	}
}

func TestRun_BatchBehindLBNeverTakesAllNodes(t *testing.T) {
	ag := &fakeAgents{}
	lb := &fakeLB{state: map[string]string{}, down: map[string]bool{}}
	s := Run(context.Background(), Plan{Nodes: nodes(3), Batch: 10}, ag, lb, nopRep{})
	if s.Failed != nil || len(ag.calls) != 3 {
		t.Fatalf("rollout: %v %v", s.Failed, ag.calls)
	}
	// The first batch must have been two nodes: node3 stayed up meanwhile.
	if lb.log[0] != "node1=drain" && lb.log[0] != "node2=drain" {
		t.Fatalf("unexpected first LB change: %v", lb.log)
	}
	drainedBeforeReady := 0
	for _, l := range lb.log {
		if strings.HasSuffix(l, "=ready") {
			break
		}
		drainedBeforeReady++
	}
	if drainedBeforeReady != 2 {
		t.Fatalf("first batch drained %d servers, want 2 of 3: %v", drainedBeforeReady, lb.log)
	}
}

func TestRun_RefusesToDrainWhenNothingElseIsUp(t *testing.T) {
	ag := &fakeAgents{}
	lb := &fakeLB{state: map[string]string{}, down: map[string]bool{"node2": true}}
	s := Run(context.Background(), Plan{Nodes: nodes(2), Batch: 1}, ag, lb, nopRep{})
	if s.Failed == nil || !errors.Is(s.Failed.Err, ErrZeroServing) || len(ag.calls) != 0 || len(lb.log) != 0 {
		t.Fatalf("want a refusal before any change: failed=%v calls=%v lb=%v", s.Failed, ag.calls, lb.log)
	}
}

func TestRun_FirstDeployWithNothingUpIsAllowed(t *testing.T) {
	ag := &fakeAgents{}
	lb := &fakeLB{state: map[string]string{}, down: map[string]bool{"node1": true, "node2": true}}
	s := Run(context.Background(), Plan{Nodes: nodes(2), Batch: 1}, ag, lb, nopRep{})
	if s.Failed != nil || len(ag.calls) != 2 {
		t.Fatalf("a first deploy with no server up must go ahead: %v %v", s.Failed, ag.calls)
	}
}

func TestRun_PreflightFailureChangesNothing(t *testing.T) {
	ag := &fakeAgents{}
	lb := &fakeLB{state: map[string]string{}, broken: true}
	s := Run(context.Background(), Plan{Nodes: nodes(2)}, ag, lb, nopRep{})
	if s.Preflight == nil || len(ag.calls) != 0 {
		t.Fatalf("preflight: %v, calls %v", s.Preflight, ag.calls)
	}
}
