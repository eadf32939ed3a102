// Package agentcheck answers HAProxy's agent-check for this node, so that
// HAProxy sends traffic to the node only when the node itself says it can
// serve: the app's container running and healthy and, where the node runs
// MariaDB, its replication caught up with every peer. A node1 coming back
// after an outage thus gets traffic again only once its database has
// applied what node2 wrote meanwhile, which a plain `check` cannot know.
//
// The protocol: HAProxy connects, reads one line and closes. The answer
// never uses the administrative words drain/ready/maint, which HAProxy
// shares with its admin socket: labcontroller drains servers there during
// a rollout, and an agent saying "ready" every two seconds would undo it.
// It sets the server's weight instead ("up 100%" or "up 0%"), or marks it
// down, with a comment HAProxy shows in its stats ("#...").
//
// It imports only the standard library: labagent gives it the deploy
// engine and the MariaDB manager behind small interfaces.
package agentcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Apps reports an app's container: whether it runs and passes its health check.
type Apps interface {
	AppReady(ctx context.Context, app string) (ok bool, why string, err error)
}

// Replication reports whether the node's MariaDB has applied all its
// peers have written that it can get (a peer that is down leaves nothing
// to wait for; why then says so).
type Replication interface {
	CaughtUp(ctx context.Context) (ok bool, why string, err error)
}

// Held is an operator's hold on the node (labcontroller node drain): while
// held, the node answers "up 0%" whatever its state.
type Held interface {
	Held() (bool, string)
}

// Answer is what the node tells HAProxy.
type Answer struct {
	// Word is "up" (with Weight) or "down".
	Word   string
	Weight int // percent of the configured weight, with "up"
	Reason string
}

// Line is the answer as HAProxy reads it, e.g. "up 0% #replication: ...\n".
func (a Answer) Line() string {
	s := a.Word
	if a.Word == "up" {
		s = fmt.Sprintf("up %d%%", a.Weight)
	}
	if a.Reason != "" {
		s += " #" + strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, a.Reason)
	}
	return s + "\n"
}

// Checker decides the answer.
type Checker struct {
	App  string
	Apps Apps
	// DB is nil when the agent does not manage MariaDB.
	DB   Replication
	Hold Held
	// Timeout bounds one decision; HAProxy's agent-inter is usually 2s.
	Timeout time.Duration
}

// Decide works out the answer now.
func (c *Checker) Decide(ctx context.Context) Answer {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok, why, err := c.Apps.AppReady(ctx, c.App)
	switch {
	case err != nil:
		return Answer{Word: "down", Reason: fmt.Sprintf("%s: cannot tell: %v", c.App, err)}
	case !ok:
		return Answer{Word: "down", Reason: fmt.Sprintf("%s: %s", c.App, why)}
	}
	if c.Hold != nil {
		if held, why := c.Hold.Held(); held {
			return Answer{Word: "up", Weight: 0, Reason: "held: " + why}
		}
	}
	note := ""
	if c.DB != nil {
		ok, why, err := c.DB.CaughtUp(ctx)
		switch {
		case err != nil:
			return Answer{Word: "up", Weight: 0, Reason: "replication: cannot tell: " + err.Error()}
		case !ok:
			return Answer{Word: "up", Weight: 0, Reason: "replication: " + why}
		}
		note = why
	}
	reason := c.App + " healthy"
	if c.DB != nil {
		reason += ", replication caught up"
	}
	if note != "" {
		reason += " (" + note + ")"
	}
	return Answer{Word: "up", Weight: 100, Reason: reason}
}

// Serve answers every connection on l until ctx ends. A decision is
// shared by connections within the same 200 ms, so that many HAProxy
// processes (or a port scan) cost one look at Docker and MariaDB.
func (c *Checker) Serve(ctx context.Context, l net.Listener, log *slog.Logger) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var (
		mu      sync.Mutex
		last    Answer
		lastAt  time.Time
		prevKey string
	)
	decide := func() Answer {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(lastAt) < 200*time.Millisecond {
			return last
		}
		last, lastAt = c.Decide(ctx), time.Now()
		if key := last.Word + fmt.Sprint(last.Weight); key != prevKey {
			log.Info("agent-check answer changed", "app", c.App, "answer", strings.TrimSpace(last.Line()))
			prevKey = key
		}
		return last
	}
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("agent-check: %w", err)
		}
		go func() {
			defer conn.Close()
			_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_, _ = conn.Write([]byte(decide().Line()))
		}()
	}
}
