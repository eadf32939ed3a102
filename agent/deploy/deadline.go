package deploy

import (
	"context"
	"fmt"
	"time"
)

// Limits that keep every deploy, revert and repair finite. A deploy's
// deadline is derived from its request, in two stages:
//
//	pull:  the pull allowance (none when the pull policy is never) + margin,
//	       for the repair of an earlier run, the image check and the pull;
//	rest:  --stop-timeout (or the engine's default) + the health gate's
//	       timeout + margin, counted from when the image is ready.
//
// So a deploy takes at most pull allowance + stop + gate + 2 margins, and a
// step that hangs after the pull ends within stop + gate + margin. When a
// stage's deadline passes, the step in progress is cancelled and the deploy
// fails and reverts like any failure; the revert has its own budget (stop
// timeout + the old version's gate + margin).
const (
	// DefaultPullAllowance is the time a pull may take (Engine.PullAllowance);
	// the docker runtime also ends a pull whose progress stalls.
	DefaultPullAllowance = time.Hour
	// DeadlineMargin covers the steps that have no timeout of their own
	// (create, start, journal writes, prune).
	DeadlineMargin = 30 * time.Second
	// DefaultStopGrace is the engine's own default stop timeout, used when
	// the request sets none.
	DefaultStopGrace = 10 * time.Second
	// MinHealthInterval is the floor of the gate's probe interval, so a tiny
	// --health-interval cannot turn the gate into a busy loop on the engine.
	MinHealthInterval = 100 * time.Millisecond
	// ProbeTimeout bounds one HTTP probe. It does not shrink with the
	// interval (a slow /healthz still passes), only with the time the gate
	// has left.
	ProbeTimeout = 5 * time.Second
)

// limits are the engine's timing knobs; tests shrink them.
type limits struct {
	stopGrace   time.Duration
	margin      time.Duration
	minInterval time.Duration
}

var defaultLimits = limits{stopGrace: DefaultStopGrace, margin: DeadlineMargin, minInterval: MinHealthInterval}

// budget is one stage's deadline and how it was made, for the message.
type budget struct {
	total time.Duration
	why   string
}

// deployBudgets returns the deadlines of a deploy's two stages.
func (e *Engine) deployBudgets(req Request) (pull, rest budget) {
	allowance := time.Duration(0)
	if pullPolicy(req.Pull, req.Image) != PullNever {
		allowance = e.PullAllowance
	}
	stop := e.stopGrace(roundUpSecond(req.Spec.StopTimeout))
	gate := req.Health.Timeout
	if gate <= 0 {
		gate = DefaultHealthTimeout
	}
	pull = budget{total: allowance + e.lim.margin, why: fmt.Sprintf("pull allowance %s + margin %s", allowance, e.lim.margin)}
	rest = budget{total: stop + gate + e.lim.margin,
		why: fmt.Sprintf("stop %s + health gate %s + margin %s, counted from when the image was ready", stop, gate, e.lim.margin)}
	return pull, rest
}

func (e *Engine) rollbackBudget(h Health) budget {
	stop := e.lim.stopGrace
	return budget{total: stop + h.Timeout + e.lim.margin,
		why: fmt.Sprintf("stop %s + health gate %s + margin %s", stop, h.Timeout, e.lim.margin)}
}

// stage bounds a run's next steps by b, counted from now; fail names it
// when its deadline passes.
func (r *run) stage(base context.Context, b budget) (context.Context, context.CancelFunc) {
	r.budget, r.stageStart = b, time.Now()
	return context.WithTimeout(base, b.total)
}

// revertBudget bounds putting old back: stopping the new one, starting the
// old one and its own gate.
func (e *Engine) revertBudget(old *Container) time.Duration {
	d := e.lim.stopGrace + e.lim.margin
	if old != nil {
		d += healthOf(old).Timeout
	}
	return d
}

func (e *Engine) stopGrace(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return e.lim.stopGrace
}

// opContext bounds one runtime call of the repair loop, which otherwise
// runs under the agent's lifetime.
func (e *Engine) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.lim.stopGrace+e.lim.margin)
}

// roundUpSecond rounds a positive duration up to whole seconds, which is
// all the engine's stop timeout takes: 300ms becomes 1s, 1.5s becomes 2s.
func roundUpSecond(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return ((d + time.Second - 1) / time.Second) * time.Second
}
