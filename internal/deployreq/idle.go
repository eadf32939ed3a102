package deployreq

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Idle bounds the silence on a Deploy or Rollback stream, so that a hung
// agent (or a network path that silently drops packets) is reported
// instead of waited on forever.
//
// The agent reports progress as it goes: every phase, the pull's byte
// counts at most twice a second while the engine reports them, and the
// start and end of the health gate. Between the start and end of the gate
// it is silent for as long as the gate lasts, so the gate's length, which
// the agent announces ("waiting up to 1m0s for ..."), is allowed on top of
// Timeout. Steps it does not announce, such as stopping a container with a
// long stop timeout, must fit in Timeout.
type Idle struct {
	// Timeout is the longest silence allowed between two messages; zero
	// allows any.
	Timeout time.Duration
}

// ErrIdle marks a stream given up for silence; every such error is an
// *IdleError.
var ErrIdle = errors.New("no progress from the agent")

// IdleError is a stream on which the agent sent nothing for too long. Its
// message reads as the end of a sentence that starts with the node's name:
// "sent nothing for 2m0s during the health gate".
type IdleError struct {
	// Silent is how long nothing came.
	Silent time.Duration
	// Phase is the phase of the last event (unspecified before the first).
	Phase agentv1.DeployPhase
	// Announced is the length the agent announced for the step it was in
	// (the health gate's), included in Silent; zero when none.
	Announced time.Duration
}

func (e *IdleError) Error() string {
	s := fmt.Sprintf("sent nothing for %s %s", e.Silent, PhaseActivity(e.Phase))
	if e.Announced > 0 {
		s += fmt.Sprintf(" (announced as up to %s)", e.Announced)
	}
	return s
}

// Is makes errors.Is(err, ErrIdle) true.
func (e *IdleError) Is(target error) bool { return target == ErrIdle }

// gateRe reads the health gate's announcement, agent/deploy's
// "waiting up to %s for %s".
var gateRe = regexp.MustCompile(`^waiting up to (\S+) for `)

// Announced returns how long the step ev starts may take, as the agent
// announced it: the health gate's timeout. ok is false for other events.
func Announced(ev *agentv1.DeployEvent) (d time.Duration, ok bool) {
	if ev.GetPhase() != agentv1.DeployPhase_DEPLOY_PHASE_HEALTH {
		return 0, false
	}
	m := gateRe.FindStringSubmatch(ev.GetMessage())
	if m == nil {
		return 0, false
	}
	d, err := time.ParseDuration(m[1])
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// ReadWithin opens a Deploy or Rollback stream with open and reads it like
// Read, cancelling it and returning an *IdleError when the agent sends
// nothing for longer than idle allows (the wait for the stream to open
// counts too). The deploy itself goes on to its end on the node.
func ReadWithin(ctx context.Context, idle Idle, open func(ctx context.Context) (func() (Message, error), error),
	onEvent func(*agentv1.DeployEvent)) (*agentv1.DeployResult, error) {
	if idle.Timeout <= 0 {
		recv, err := open(ctx)
		if err != nil {
			return nil, err
		}
		return Read(recv, onEvent)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := &watch{cancel: cancel}
	w.arm(&IdleError{Silent: idle.Timeout})
	defer w.stop()
	recv, err := open(ctx)
	if err != nil {
		return nil, idleCause(ctx, err)
	}
	res, err := Read(recv, func(ev *agentv1.DeployEvent) {
		next := &IdleError{Silent: idle.Timeout, Phase: ev.GetPhase()}
		if d, ok := Announced(ev); ok {
			next.Silent += d
			next.Announced = d
		}
		w.arm(next)
		if onEvent != nil {
			onEvent(ev)
		}
	})
	return res, idleCause(ctx, err)
}

// idleCause returns the *IdleError that cancelled ctx in place of err (the
// stream's "context canceled"); other errors pass through.
func idleCause(ctx context.Context, err error) error {
	var ie *IdleError
	if err != nil && errors.As(context.Cause(ctx), &ie) {
		return ie
	}
	return err
}

// watch cancels a stream when its timer runs out.
type watch struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

// arm restarts the countdown: after next.Silent, the stream is cancelled
// with next as the cause.
func (w *watch) arm(next *IdleError) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = time.AfterFunc(next.Silent, func() { w.cancel(next) })
}

func (w *watch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer.Stop()
}
