// Package haproxy is a client for HAProxy's runtime API on its admin stats
// socket: it reads server state (show stat, show servers state), moves
// servers between ready, drain and maint, and waits for a server to drain
// or to pass its health checks. labcontroller's rolling deploy uses it to
// take nodes out of rotation without failing a request, and check_haproxy
// reads the same state.
//
// It speaks only the runtime API, one command per connection, and must
// never edit or reload HAProxy's configuration, nor send more than the one
// command it was asked for (names are checked so that ';' or a line break
// cannot smuggle a second one in).
package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// DefaultTimeout bounds one command when Client.Timeout is zero.
const DefaultTimeout = 5 * time.Second

var (
	// ErrUnavailable is returned (wrapped with the address and the cause)
	// when the admin socket cannot be reached or does not answer in time.
	ErrUnavailable = errors.New("HAProxy admin socket unavailable")
	// ErrRejected is returned (wrapped with HAProxy's answer) when HAProxy
	// refuses a command: unknown command, permission denied, bad argument.
	ErrRejected = errors.New("HAProxy rejected the command")
	// ErrNoBackend is returned (wrapped with the backends that exist) for a
	// backend HAProxy does not have.
	ErrNoBackend = errors.New("no such backend")
	// ErrNoServer is returned (wrapped with the servers that exist) for a
	// server the backend does not have.
	ErrNoServer = errors.New("no such server")
	// ErrInvalid is returned for arguments the client refuses to send: a
	// name HAProxy would not accept, an unknown state, a multi-line command.
	ErrInvalid = errors.New("invalid argument")
	// ErrMaint is returned by WaitUp for a server in maint: HAProxy stops
	// checking such a server, so it can never come up by itself.
	ErrMaint = errors.New("server is in maint")
)

// errCommandTimeout is the cause of a command's own deadline, to tell it
// apart from the caller's context expiring.
var errCommandTimeout = errors.New("command timeout")

// Client talks to one admin socket: a unix socket path (e.g.
// /run/haproxy/admin.sock) or host:port (e.g. 127.0.0.10:9999). It sends one
// command per connection (HAProxy's non-interactive mode: HAProxy answers
// and closes), so a Client holds no connection and is safe for concurrent
// use.
type Client struct {
	// Addr is a unix socket path (anything containing a '/') or host:port.
	Addr string
	// Timeout bounds one command, connect to last byte; DefaultTimeout
	// when zero.
	Timeout time.Duration
}

// New returns a Client for the admin socket at addr with the default
// timeout.
func New(addr string) *Client {
	return &Client{Addr: addr, Timeout: DefaultTimeout}
}

func (c *Client) network() string {
	if strings.Contains(c.Addr, "/") {
		return "unix"
	}
	return "tcp"
}

// Command sends cmd (one line, without the newline) and returns HAProxy's
// whole answer. Commands HAProxy does not know or that the socket's level
// does not allow come back as ErrRejected; any other answer, including an
// error message particular to the command, is returned as is for the
// caller to interpret.
func (c *Client) Command(ctx context.Context, cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("%w: command %q holds a line break; send one command at a time", ErrInvalid, cmd)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errCommandTimeout)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network(), c.Addr)
	if err != nil {
		if timedOut(ctx, err) {
			return "", c.notAnswered(ctx, cmd, timeout)
		}
		return "", fmt.Errorf("%w: cannot connect to %s (is HAProxy running, and is its stats socket enabled there with level admin?): %w",
			ErrUnavailable, c.Addr, err)
	}
	defer conn.Close()
	// A server that accepts and never answers must not hold us past the
	// deadline, and a caller's cancel must end the read at once.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		if timedOut(ctx, err) {
			return "", c.notAnswered(ctx, cmd, timeout)
		}
		return "", fmt.Errorf("%w: cannot send %q to %s: %w", ErrUnavailable, cmd, c.Addr, err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		if timedOut(ctx, err) {
			return "", c.notAnswered(ctx, cmd, timeout)
		}
		return "", fmt.Errorf("%w: reading the answer to %q from %s: %w", ErrUnavailable, cmd, c.Addr, err)
	}
	out := string(b)
	switch first := strings.TrimSpace(firstLine(out)); {
	case strings.HasPrefix(first, "Permission denied"):
		return out, fmt.Errorf("%w: %s refused %q: %s (the stats socket needs `level admin`)", ErrRejected, c.Addr, cmd, first)
	case strings.HasPrefix(first, "Unknown command"):
		return out, fmt.Errorf("%w: %s does not know the command %q (is this HAProxy 2.x?)", ErrRejected, c.Addr, cmd)
	}
	return out, nil
}

// timedOut reports whether a connection error comes from ctx ending. The
// connection's deadline is ctx's, so the read can fail a moment before ctx
// says it is done: wait for that moment, so that context.Cause is set.
func timedOut(ctx context.Context, err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		<-ctx.Done()
		return true
	}
	return ctx.Err() != nil
}

// notAnswered explains a command that ran out of time, telling the
// command's own Timeout apart from the caller's context.
func (c *Client) notAnswered(ctx context.Context, cmd string, timeout time.Duration) error {
	if errors.Is(context.Cause(ctx), errCommandTimeout) {
		return fmt.Errorf("%w: %s did not answer %q within %s (is that address HAProxy's stats socket, and is HAProxy responsive?): %w",
			ErrUnavailable, c.Addr, cmd, timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("%w: %q to %s: %w", ErrUnavailable, cmd, c.Addr, ctx.Err())
}

func firstLine(s string) string {
	s = strings.TrimLeft(s, "\r\n")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// checkName refuses names HAProxy would not accept as a proxy or server
// name, which also keeps ';' (HAProxy's command separator), blanks and
// line breaks out of the commands built from them.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s name", ErrInvalid, what)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-_.:", r):
		default:
			return fmt.Errorf("%w: %s name %q may hold only letters, digits, '-', '_', '.' and ':'", ErrInvalid, what, name)
		}
	}
	return nil
}
