package deployreq_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// step is one message of a scripted stream, sent after a pause.
type step struct {
	after time.Duration
	msg   *agentv1.DeployResponse
}

// scripted opens a stream that sends steps and then blocks until its
// context ends, as a hung agent does; it returns the stream's error the
// way gRPC does (status Canceled).
func scripted(steps ...step) func(ctx context.Context) (func() (deployreq.Message, error), error) {
	return func(ctx context.Context) (func() (deployreq.Message, error), error) {
		return func() (deployreq.Message, error) {
			if len(steps) == 0 {
				<-ctx.Done()
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			s := steps[0]
			steps = steps[1:]
			select {
			case <-time.After(s.after):
				return s.msg, nil
			case <-ctx.Done():
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		}, nil
	}
}

func result() *agentv1.DeployResponse {
	return &agentv1.DeployResponse{Kind: &agentv1.DeployResponse_Result{Result: &agentv1.DeployResult{Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED}}}
}

func TestReadWithin_SilentAgentIsGivenUp(t *testing.T) {
	open := scripted(step{0, event(agentv1.DeployPhase_DEPLOY_PHASE_LOCK, "locked")}, step{0, event(agentv1.DeployPhase_DEPLOY_PHASE_STOP_OLD, "stopping v1")})
	t0 := time.Now()
	_, err := deployreq.ReadWithin(context.Background(), deployreq.Idle{Timeout: 150 * time.Millisecond}, open, nil)
	var ie *deployreq.IdleError
	if !errors.As(err, &ie) || !errors.Is(err, deployreq.ErrIdle) {
		t.Fatalf("err = %v (%T), want an *IdleError", err, err)
	}
	if got, want := err.Error(), "sent nothing for 150ms while stopping the old container"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if time.Since(t0) > 5*time.Second {
		t.Errorf("gave up only after %s", time.Since(t0))
	}
}

func TestReadWithin_EveryMessageRestartsTheCount(t *testing.T) {
	var steps []step
	for range 6 {
		steps = append(steps, step{60 * time.Millisecond, event(agentv1.DeployPhase_DEPLOY_PHASE_PULL, "downloading")})
	}
	steps = append(steps, step{60 * time.Millisecond, result()})
	res, err := deployreq.ReadWithin(context.Background(), deployreq.Idle{Timeout: 200 * time.Millisecond}, scripted(steps...), nil)
	if err != nil || res.GetOutcome() != agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED {
		t.Fatalf("a stream that talks every 60ms was given up: %v %v", res, err)
	}
}

// The health gate is silent for as long as the agent announced; that is
// allowed on top of the idle timeout, and named in the message.
func TestReadWithin_AnnouncedGateIsAllowed(t *testing.T) {
	gate := event(agentv1.DeployPhase_DEPLOY_PHASE_HEALTH, "waiting up to 300ms for HTTP GET /healthz on port 8000")
	res, err := deployreq.ReadWithin(context.Background(), deployreq.Idle{Timeout: 100 * time.Millisecond},
		scripted(step{0, gate}, step{250 * time.Millisecond, result()}), nil)
	if err != nil || res == nil {
		t.Fatalf("a gate within its announced 300ms was given up: %v", err)
	}
	_, err = deployreq.ReadWithin(context.Background(), deployreq.Idle{Timeout: 100 * time.Millisecond}, scripted(step{0, gate}), nil)
	if err == nil || err.Error() != "sent nothing for 400ms during the health gate (announced as up to 300ms)" {
		t.Fatalf("err = %v", err)
	}
}

func TestReadWithin_NothingAtAll(t *testing.T) {
	_, err := deployreq.ReadWithin(context.Background(), deployreq.Idle{Timeout: 50 * time.Millisecond}, scripted(), nil)
	if err == nil || err.Error() != "sent nothing for 50ms before its first progress report" {
		t.Fatalf("err = %v", err)
	}
}

func TestReadWithin_OtherErrorsPassThrough(t *testing.T) {
	open := func(context.Context) (func() (deployreq.Message, error), error) {
		return deployreq.Recv(&fakeStream{end: status.Error(codes.Aborted, "locked")}), nil
	}
	if _, err := deployreq.ReadWithin(context.Background(), deployreq.Idle{Timeout: time.Second}, open, nil); status.Code(err) != codes.Aborted {
		t.Fatalf("err = %v, want the stream's Aborted", err)
	}
	openEOF := func(context.Context) (func() (deployreq.Message, error), error) {
		return deployreq.Recv(&fakeStream{end: io.EOF}), nil
	}
	if _, err := deployreq.ReadWithin(context.Background(), deployreq.Idle{}, openEOF, nil); !errors.Is(err, deployreq.ErrNoResult) {
		t.Fatalf("err = %v, want ErrNoResult", err)
	}
	// The caller's own cancellation is not silence.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := deployreq.ReadWithin(ctx, deployreq.Idle{Timeout: time.Hour}, scripted(), nil); errors.Is(err, deployreq.ErrIdle) || status.Code(err) != codes.Canceled {
		t.Fatalf("err = %v, want Canceled", err)
	}
}

func TestAnnounced(t *testing.T) {
	for msg, want := range map[string]time.Duration{
		"waiting up to 1m0s for HTTP GET /healthz on port 8000": time.Minute,
		"waiting up to 2.5s for the image's HEALTHCHECK":        2500 * time.Millisecond,
	} {
		if d, ok := deployreq.Announced(&agentv1.DeployEvent{Phase: agentv1.DeployPhase_DEPLOY_PHASE_HEALTH, Message: msg}); !ok || d != want {
			t.Errorf("Announced(%q) = %s, %v", msg, d, ok)
		}
	}
	for _, ev := range []*agentv1.DeployEvent{
		{Phase: agentv1.DeployPhase_DEPLOY_PHASE_HEALTH, Message: "healthy: HTTP 200"},
		{Phase: agentv1.DeployPhase_DEPLOY_PHASE_PULL, Message: "waiting up to 1m0s for the registry"},
		{Phase: agentv1.DeployPhase_DEPLOY_PHASE_HEALTH, Message: "waiting up to forever for it"},
	} {
		if d, ok := deployreq.Announced(ev); ok {
			t.Errorf("Announced(%v) = %s", ev, d)
		}
	}
}
