// Package rollout rolls a deploy (or rollback) across nodes in batches,
// draining each batch out of the load balancer first and putting it back
// only when the agent reports it healthy and the load balancer sees it up.
// When a node fails, the rollout stops there, so a bad image never reaches
// the next batch, and by default the nodes already changed are rolled back.
//
// It never leaves zero nodes serving behind the load balancer: it refuses to
// drain a batch while no server outside it is up.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Node is one node of the rollout.
type Node struct {
	Name string
	// Server is the node's server name in the load balancer backend.
	Server string
}

// Agents runs actions on nodes' agents.
type Agents interface {
	// Apply runs the rollout's action (deploy or rollback) on a node and
	// returns its result; events go to the reporter.
	Apply(ctx context.Context, node Node) (*agentv1.DeployResult, error)
	// Revert rolls a node back to version.
	Revert(ctx context.Context, node Node, version string) (*agentv1.DeployResult, error)
}

// Balancer is the load balancer in front of the nodes (HAProxy's runtime
// API). A nil Balancer rolls batch by batch without draining.
type Balancer interface {
	// Check verifies that every server exists; it runs before any change.
	Check(ctx context.Context, servers []string) error
	SetState(ctx context.Context, server, state string) error
	WaitDrained(ctx context.Context, server string) error
	WaitUp(ctx context.Context, server string) error
	// Up reports whether the server's health checks pass.
	Up(ctx context.Context, server string) (bool, error)
}

// Reporter hears what happens, for the terminal or CI logs.
type Reporter interface {
	NodeStart(node Node, what string)
	Note(node Node, msg string)
	NodeDone(node Node, o *Outcome)
}

// Plan is a rollout.
type Plan struct {
	Nodes []Node
	// Batch is how many nodes change at once (default 1).
	Batch int
	// DrainTimeout bounds the wait for a drained server's sessions to end.
	DrainTimeout time.Duration
	// UpTimeout bounds the wait for the load balancer to see a server up.
	UpTimeout time.Duration
	// Wait is the pause between batches.
	Wait time.Duration
	// AutoRevert rolls back nodes already changed when a later one fails.
	AutoRevert bool
}

// Outcome is what happened on one node.
type Outcome struct {
	Node      Node
	Result    *agentv1.DeployResult
	Err       error
	Skipped   bool
	Reverted  *agentv1.DeployResult
	RevertErr error
	Took      time.Duration
}

// Failed reports whether the node's action failed.
func (o *Outcome) Failed() bool {
	return o.Err != nil || o.Result.GetOutcome() == agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED
}

// Running is the version the node runs after the rollout, as far as known.
func (o *Outcome) Running() string {
	switch {
	case o.Skipped || o.Result == nil:
		return ""
	case o.Reverted != nil && o.RevertErr == nil && o.Reverted.GetOutcome() == agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED:
		return o.Reverted.GetVersion()
	case o.Failed():
		return o.Result.GetPreviousVersion()
	}
	return o.Result.GetVersion()
}

// Summary is the rollout's result, node by node in plan order.
type Summary struct {
	Nodes     []*Outcome
	Failed    *Outcome
	Took      time.Duration
	Preflight error
}

// ErrZeroServing refuses a batch that would leave no server up.
var ErrZeroServing = errors.New("would leave zero nodes serving")

// Run executes the plan.
func Run(ctx context.Context, p Plan, agents Agents, lb Balancer, rep Reporter) *Summary {
	t0 := time.Now()
	s := &Summary{}
	for _, n := range p.Nodes {
		s.Nodes = append(s.Nodes, &Outcome{Node: n})
	}
	if p.Batch < 1 {
		p.Batch = 1
	}
	if lb != nil {
		if p.Batch >= len(p.Nodes) && len(p.Nodes) > 1 {
			p.Batch = len(p.Nodes) - 1
		}
		servers := make([]string, len(p.Nodes))
		for i, n := range p.Nodes {
			servers[i] = n.Server
		}
		if err := lb.Check(ctx, servers); err != nil {
			s.Preflight = err
			s.Took = time.Since(t0)
			return s
		}
	}
	var done []*Outcome
	for start := 0; start < len(s.Nodes); start += p.Batch {
		batch := s.Nodes[start:min(start+p.Batch, len(s.Nodes))]
		if start > 0 && p.Wait > 0 {
			time.Sleep(p.Wait)
		}
		if err := runBatch(ctx, p, batch, s.Nodes, agents, lb, rep); err != nil {
			for _, o := range batch {
				if o.Err == nil && o.Result == nil {
					o.Err = err
				}
			}
		}
		for _, o := range batch {
			if o.Failed() && s.Failed == nil {
				s.Failed = o
			}
		}
		done = append(done, batch...)
		if s.Failed != nil {
			for _, o := range s.Nodes[start+len(batch):] {
				o.Skipped = true
			}
			if p.AutoRevert {
				revert(ctx, p, done, agents, lb, rep)
			}
			break
		}
	}
	s.Took = time.Since(t0)
	return s
}

// runBatch drains, changes and restores one batch, each step for the
// whole batch at once.
func runBatch(ctx context.Context, p Plan, batch, all []*Outcome, agents Agents, lb Balancer, rep Reporter) error {
	if lb != nil {
		if err := someoneElseUp(ctx, lb, batch, all); err != nil {
			return err
		}
	}
	t0 := time.Now()
	for _, o := range batch {
		rep.NodeStart(o.Node, "deploy")
	}
	parallel := func(fn func(o *Outcome)) {
		var wg sync.WaitGroup
		for _, o := range batch {
			wg.Go(func() { fn(o) })
		}
		wg.Wait()
	}
	if lb != nil {
		parallel(func(o *Outcome) { drain(ctx, p, o.Node, lb, rep) })
	}
	parallel(func(o *Outcome) { o.Result, o.Err = agents.Apply(ctx, o.Node) })
	if lb != nil {
		// Failed or not, each node serves a healthy version now (the agent
		// put the old one back); return it to rotation.
		parallel(func(o *Outcome) {
			if err := restore(ctx, p, o.Node, lb, rep); err != nil && o.Err == nil && !o.Failed() {
				o.Err = err
			}
		})
	}
	for _, o := range batch {
		o.Took = time.Since(t0)
		rep.NodeDone(o.Node, o)
	}
	return nil
}

// someoneElseUp refuses a batch whose draining would take the number of
// servers up from some to none. When nothing is up at all (a first deploy,
// or an outage) there is no serving to protect, and deploying is the fix.
func someoneElseUp(ctx context.Context, lb Balancer, batch, all []*Outcome) error {
	in := map[string]bool{}
	for _, o := range batch {
		in[o.Node.Server] = true
	}
	batchUp, otherUp := false, false
	for _, o := range all {
		up, err := lb.Up(ctx, o.Node.Server)
		if err != nil {
			return err
		}
		if up && in[o.Node.Server] {
			batchUp = true
		} else if up {
			otherUp = true
		}
	}
	if batchUp && !otherUp && len(all) > 1 {
		return fmt.Errorf("%w: no server outside this batch is up in the load balancer; fix the other nodes first", ErrZeroServing)
	}
	return nil
}

func drain(ctx context.Context, p Plan, n Node, lb Balancer, rep Reporter) {
	if err := lb.SetState(ctx, n.Server, "drain"); err != nil {
		rep.Note(n, "cannot drain: "+err.Error())
		return
	}
	rep.Note(n, "draining "+n.Server)
	dctx, cancel := context.WithTimeout(ctx, p.DrainTimeout)
	defer cancel()
	if err := lb.WaitDrained(dctx, n.Server); err != nil {
		rep.Note(n, fmt.Sprintf("drain timeout (%s) reached, going on: %v", p.DrainTimeout, err))
		return
	}
	rep.Note(n, "drained: no sessions left")
}

func restore(ctx context.Context, p Plan, n Node, lb Balancer, rep Reporter) error {
	uctx, cancel := context.WithTimeout(ctx, p.UpTimeout)
	defer cancel()
	err := lb.WaitUp(uctx, n.Server)
	if err != nil {
		rep.Note(n, "load balancer does not see it up: "+err.Error())
	} else {
		rep.Note(n, "load balancer sees it up")
	}
	if serr := lb.SetState(ctx, n.Server, "ready"); serr != nil {
		return fmt.Errorf("cannot set %s ready: %w", n.Server, serr)
	}
	rep.Note(n, "ready: back in rotation")
	return err
}

// revert rolls back, one at a time, every node this rollout changed.
func revert(ctx context.Context, p Plan, done []*Outcome, agents Agents, lb Balancer, rep Reporter) {
	for _, o := range done {
		r := o.Result
		if o.Failed() || r.GetOutcome() != agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED || r.GetPreviousVersion() == "" {
			continue
		}
		rep.NodeStart(o.Node, "revert to "+r.GetPreviousVersion())
		if lb != nil {
			drain(ctx, p, o.Node, lb, rep)
		}
		o.Reverted, o.RevertErr = agents.Revert(ctx, o.Node, r.GetPreviousVersion())
		if lb != nil {
			if err := restore(ctx, p, o.Node, lb, rep); err != nil && o.RevertErr == nil {
				o.RevertErr = err
			}
		}
		rep.NodeDone(o.Node, o)
	}
}
