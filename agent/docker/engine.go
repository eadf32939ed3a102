// Package docker is the agent's side of the Docker Engine API. It talks to
// the engine the agent runs beside and only ever touches containers labelled
// with the agent's own node name.
package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/client"
)

// Engine is a connection to one Docker Engine.
type Engine struct {
	cli *client.Client
}

// New connects to the engine at host (e.g. unix:///var/run/docker.sock);
// an empty host uses DOCKER_HOST or the default socket. The API version is
// negotiated on first use, so old engines (Debian's 20.10) work.
func New(host string) (*Engine, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot set up Docker client: %w", err)
	}
	return &Engine{cli: cli}, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.cli.Close() }

// Version returns the engine's version and the API version in use.
func (e *Engine) Version(ctx context.Context) (engine, api string, err error) {
	v, err := e.cli.ServerVersion(ctx)
	if err != nil {
		return "", "", fmt.Errorf("docker engine at %s: %w", e.cli.DaemonHost(), err)
	}
	return v.Version, e.cli.ClientVersion(), nil
}
