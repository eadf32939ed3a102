// Package docker is the agent's side of the Docker Engine API. It talks to
// the engine the agent runs beside and only ever touches containers labelled
// with the agent's own node name.
//
// Every call to the engine has a deadline, the API-version negotiation
// included: an engine that accepts connections and never answers must not
// hang a deploy, the repair loop or GetInfo.
package docker

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"
)

// Default deadlines of engine calls; Engine's fields override them.
const (
	// DefaultCallTimeout bounds an ordinary call (inspect, list, create,
	// start, logs, version). A healthy engine answers in milliseconds.
	DefaultCallTimeout = 30 * time.Second
	// DefaultRemoveTimeout bounds removing a container or an image, which
	// deletes files.
	DefaultRemoveTimeout = 2 * time.Minute
	// DefaultPullIdleTimeout fails a pull whose progress stream has been
	// silent this long.
	DefaultPullIdleTimeout = 2 * time.Minute
	// DefaultPullTimeout bounds a whole pull.
	DefaultPullTimeout = time.Hour
	// defaultStopGrace is the engine's stop timeout for a container
	// created without one.
	defaultStopGrace = 10 * time.Second
)

// Engine is a connection to one Docker Engine.
type Engine struct {
	cli *client.Client

	// CallTimeout, RemoveTimeout, PullIdleTimeout and PullTimeout override
	// the defaults above when positive. A stop may take the container's
	// stop timeout plus CallTimeout.
	CallTimeout, RemoveTimeout, PullIdleTimeout, PullTimeout time.Duration

	// The API version is negotiated here rather than by the client: the
	// client negotiates under a mutex that callers cannot stop waiting for,
	// so one call stuck on a hung engine would stall every other call,
	// however short its own deadline. negotiating is that lock as a
	// channel, which a caller leaves when its context ends.
	negotiated  atomic.Bool
	negotiating chan struct{}
}

// New connects to the engine at host (e.g. unix:///var/run/docker.sock);
// an empty host uses DOCKER_HOST or the default socket. It does not
// connect: the API version is negotiated on first use, so old engines
// (Debian's 20.10) work.
func New(host string) (*Engine, error) {
	opts := []client.Opt{client.FromEnv}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot set up Docker client: %w", err)
	}
	return &Engine{cli: cli, negotiating: make(chan struct{}, 1)}, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.cli.Close() }

// Host is the engine's address, e.g. unix:///var/run/docker.sock.
func (e *Engine) Host() string { return e.cli.DaemonHost() }

// Socket is the path of the engine's unix socket, or "" when the engine is
// reached over TCP. The host policy never lets a deploy mount it.
func (e *Engine) Socket() string {
	p, ok := strings.CutPrefix(e.Host(), "unix://")
	if !ok {
		return ""
	}
	return p
}

// Version returns the engine's version and the API version in use.
func (e *Engine) Version(ctx context.Context) (engine, api string, err error) {
	c, err := e.begin(ctx, "version query", e.callTimeout())
	if err != nil {
		return "", "", err
	}
	defer c.end()
	v, err := e.cli.ServerVersion(c.ctx)
	if err != nil {
		return "", "", c.wrap(err)
	}
	return v.Version, e.cli.ClientVersion(), nil
}

// negotiate settles the API version once, within ctx. Until it has, calls
// wait for it (or for their own context); when it fails, the next call
// tries again.
func (e *Engine) negotiate(ctx context.Context) error {
	if e.negotiated.Load() {
		return nil
	}
	select {
	case e.negotiating <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for API version negotiation: %w", ctx.Err())
	}
	defer func() { <-e.negotiating }()
	if e.negotiated.Load() {
		return nil
	}
	ping, err := e.cli.Ping(ctx)
	if err != nil {
		return fmt.Errorf("negotiating the API version: %w", err)
	}
	// Downgrades the client to the engine's API version (a no-op when
	// DOCKER_API_VERSION fixes it).
	e.cli.NegotiateAPIVersionPing(ping)
	e.negotiated.Store(true)
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (e *Engine) callTimeout() time.Duration { return orDefault(e.CallTimeout, DefaultCallTimeout) }
func (e *Engine) removeTimeout() time.Duration {
	return orDefault(e.RemoveTimeout, DefaultRemoveTimeout)
}
func (e *Engine) pullIdleTimeout() time.Duration {
	return orDefault(e.PullIdleTimeout, DefaultPullIdleTimeout)
}
func (e *Engine) pullTimeout() time.Duration { return orDefault(e.PullTimeout, DefaultPullTimeout) }
