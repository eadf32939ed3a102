package haproxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Admin states SetState accepts, as the runtime API spells them.
const (
	StateReady = "ready" // in rotation
	StateDrain = "drain" // no new requests; current ones finish; still checked
	StateMaint = "maint" // out of rotation and no longer checked
)

// DefaultPoll is the polling interval of WaitDrained and WaitUp when they
// are given zero.
const DefaultPoll = 250 * time.Millisecond

// SetState sets a server's admin state to StateReady, StateDrain or
// StateMaint (`set server B/S state X`). It returns ErrNoBackend or
// ErrNoServer, naming what exists, for an unknown backend or server.
func (c *Client) SetState(ctx context.Context, backend, server, state string) error {
	if err := checkName("backend", backend); err != nil {
		return err
	}
	if err := checkName("server", server); err != nil {
		return err
	}
	switch state {
	case StateReady, StateDrain, StateMaint:
	default:
		return fmt.Errorf("%w: server state %q (want %s, %s or %s)", ErrInvalid, state, StateReady, StateDrain, StateMaint)
	}
	cmd := fmt.Sprintf("set server %s/%s state %s", backend, server, state)
	out, err := c.Command(ctx, cmd)
	if err != nil {
		return fmt.Errorf("cannot set server %s/%s to %s: %w", backend, server, state, err)
	}
	// HAProxy answers an empty line on success and a message otherwise.
	msg := strings.TrimSpace(out)
	switch {
	case msg == "":
		return nil
	case strings.HasPrefix(msg, "No such backend"):
		err := c.noBackend(backend, nil)
		if _, e := c.Servers(ctx, backend); errors.Is(e, ErrNoBackend) {
			err = e // names the backends that exist
		}
		return fmt.Errorf("cannot set server %s/%s to %s: %w", backend, server, state, err)
	case strings.HasPrefix(msg, "No such server"):
		var err error
		if servers, e := c.Servers(ctx, backend); e == nil {
			err = c.noServer(backend, server, servers)
		} else {
			err = fmt.Errorf("%w: backend %q on HAProxy at %s has no server %q", ErrNoServer, backend, c.Addr, server)
		}
		return fmt.Errorf("cannot set server %s/%s to %s: %w", backend, server, state, err)
	}
	return fmt.Errorf("cannot set server %s/%s to %s: %w: %s answered %q", backend, server, state, ErrRejected, c.Addr, msg)
}

// WaitDrained polls until the server handles no session and has none
// queued, which for a drained server means every request it had has
// finished. Set the server to drain (or maint) first: a server in rotation
// gets new sessions all the time. ctx bounds the wait; on expiry the error
// says how many sessions remain.
func (c *Client) WaitDrained(ctx context.Context, backend, server string, poll time.Duration) error {
	start := time.Now()
	last, seen, err := c.poll(ctx, backend, server, poll, func(s Server) (bool, error) {
		return s.Sessions == 0 && s.Queued == 0, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil:
		return err
	case !seen:
		return fmt.Errorf("cannot tell whether server %s/%s drained within %s: %w", backend, server, since(start), err)
	}
	return fmt.Errorf("server %s/%s still has %d sessions (%d queued) after %s (status %s): %w",
		backend, server, last.Sessions, last.Queued, since(start), last.Status, err)
}

// WaitUp polls until HAProxy's health checks find the server up, whatever
// its admin state (a drained server is checked too): Operational and at
// full health (see Server.Healthy). It returns ErrMaint at once for a
// server in maint, which HAProxy does not check. ctx bounds the wait; on
// expiry the error gives the last status and check status.
func (c *Client) WaitUp(ctx context.Context, backend, server string, poll time.Duration) error {
	start := time.Now()
	last, seen, err := c.poll(ctx, backend, server, poll, func(s Server) (bool, error) {
		if s.Admin == StateMaint {
			return false, fmt.Errorf("%w: HAProxy does not check %s/%s in maint, so it cannot come up: set it to drain or ready first",
				ErrMaint, backend, server)
		}
		return s.Healthy(), nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil:
		return err
	case !seen:
		return fmt.Errorf("cannot tell whether server %s/%s came up within %s: %w", backend, server, since(start), err)
	}
	check := last.CheckStatus
	if check == "" {
		check = "none"
	}
	return fmt.Errorf("server %s/%s is not up after %s: last status %q, check status %s (is the app answering its health check at %s?): %w",
		backend, server, since(start), last.Status, check, last.Addr, err)
}

// poll reads the server every interval until done says so, done returns an
// error, reading fails for a reason other than the socket being briefly
// unavailable (a reload), or ctx ends. It returns the last server read and
// whether there was one; on ctx expiry the error wraps ctx.Err() and the
// last read error.
func (c *Client) poll(ctx context.Context, backend, server string, every time.Duration, done func(Server) (bool, error)) (Server, bool, error) {
	if every <= 0 {
		every = DefaultPoll
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var (
		last    Server
		seen    bool
		lastErr error
	)
	for {
		s, err := c.Server(ctx, backend, server)
		switch {
		case err == nil:
			last, seen, lastErr = s, true, nil
			ok, err := done(s)
			if err != nil || ok {
				return last, seen, err
			}
		case ctx.Err() != nil:
		case errors.Is(err, ErrUnavailable):
			lastErr = err
		default:
			return last, seen, err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, seen, fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
			}
			return last, seen, ctx.Err()
		case <-t.C:
		}
	}
}

func since(t time.Time) time.Duration {
	return time.Since(t).Round(10 * time.Millisecond)
}
