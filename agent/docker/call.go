package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/labfleet/labfleet/agent/deploy"
)

// call is one request to the engine under its own deadline.
type call struct {
	e      *Engine
	what   string
	parent context.Context // the caller's
	ctx    context.Context // the caller's, bounded by limit
	cancel context.CancelFunc
	start  time.Time
	limit  time.Duration
}

// begin starts a call named what (for messages) that may take limit. It
// negotiates the API version first if that has not happened yet, within
// CallTimeout (or limit, if shorter) whatever the call may take later.
// The caller must call end.
func (e *Engine) begin(parent context.Context, what string, limit time.Duration) (*call, error) {
	start := time.Now()
	if !e.negotiated.Load() {
		n := &call{e: e, what: what, parent: parent, start: start, limit: min(limit, e.callTimeout())}
		n.ctx, n.cancel = context.WithTimeout(parent, n.limit)
		err := e.negotiate(n.ctx)
		n.end()
		if err != nil {
			return nil, n.wrap(err)
		}
	}
	c := &call{e: e, what: what, parent: parent, start: start, limit: limit}
	c.ctx, c.cancel = context.WithTimeout(parent, limit)
	return c, nil
}

func (c *call) end() { c.cancel() }

// wrap classifies an engine error for the deploy engine: an engine that
// cannot be reached, or that does not answer within the call's own
// deadline, is ErrUnavailable (the RPC answers Unavailable); a missing
// object is ErrNotFound. When the caller's context ended first, the error
// keeps the context's error (DeadlineExceeded or Canceled) and is not
// called unavailable: the engine may only be slow for that caller.
func (c *call) wrap(err error) error {
	if err == nil {
		return nil
	}
	host := c.e.Host()
	timedOut := errors.Is(err, context.DeadlineExceeded)
	switch {
	case client.IsErrConnectionFailed(err), timedOut && strings.Contains(err.Error(), "dial"):
		return fmt.Errorf("%w: %s: Docker Engine at %s: %v", deploy.ErrUnavailable, c.what, host, err)
	case timedOut && c.parent.Err() == nil:
		return fmt.Errorf("%w: %s: the Docker Engine at %s did not answer within %s (is dockerd hung?)", deploy.ErrUnavailable, c.what, host, c.limit)
	case timedOut:
		return fmt.Errorf("%s: the Docker Engine at %s did not answer within %s: %w", c.what, host, roundElapsed(time.Since(c.start)), err)
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: %s: %v", deploy.ErrNotFound, c.what, err)
	}
	return fmt.Errorf("%s: %w", c.what, err)
}

func roundElapsed(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
