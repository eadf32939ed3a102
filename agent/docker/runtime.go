package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/labfleet/labfleet/agent/deploy"
)

var _ deploy.Runtime = (*Engine)(nil)

// wrap classifies engine errors for the deploy engine: an engine that cannot
// be reached is ErrUnavailable (the RPC answers Unavailable), a missing
// object ErrNotFound.
func (e *Engine) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case client.IsErrConnectionFailed(err), errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "dial"):
		return fmt.Errorf("%w: %s: Docker Engine at %s: %v", deploy.ErrUnavailable, what, e.cli.DaemonHost(), err)
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: %s: %v", deploy.ErrNotFound, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Image reports a local image.
func (e *Engine) Image(ctx context.Context, ref string) (deploy.ImageInfo, bool, error) {
	ii, err := e.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return deploy.ImageInfo{}, false, nil
	}
	if err != nil {
		return deploy.ImageInfo{}, false, e.wrap("inspect image "+ref, err)
	}
	info := deploy.ImageInfo{ID: ii.ID, RepoDigests: ii.RepoDigests}
	if ii.Config != nil && ii.Config.Healthcheck != nil && len(ii.Config.Healthcheck.Test) > 0 && ii.Config.Healthcheck.Test[0] != "NONE" {
		info.HasHealthcheck = true
	}
	return info, true, nil
}

// Pull pulls ref and reads the progress stream to its end; errors the
// registry reports (bad credentials, unknown tag) arrive inside the stream.
func (e *Engine) Pull(ctx context.Context, ref string, auth *deploy.RegistryAuth, progress func(cur, total int64, status string)) error {
	opts := image.PullOptions{}
	if auth != nil && auth.Username != "" {
		enc, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: auth.Username, Password: auth.Password, ServerAddress: auth.Server})
		if err != nil {
			return fmt.Errorf("cannot encode registry credentials: %w", err)
		}
		opts.RegistryAuth = enc
	}
	rc, err := e.cli.ImagePull(ctx, ref, opts)
	if err != nil {
		return e.pullError(err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	layers := map[string][2]int64{}
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return e.wrap("read pull progress of "+ref, err)
		}
		if m.Error != nil {
			return e.pullError(errors.New(m.Error.Message))
		}
		if m.Progress != nil && m.ID != "" {
			layers[m.ID] = [2]int64{m.Progress.Current, m.Progress.Total}
		}
		var cur, total int64
		for _, l := range layers {
			cur, total = cur+l[0], total+l[1]
		}
		status := m.Status
		if m.ID != "" {
			status = m.ID + ": " + m.Status
		}
		progress(cur, total, status)
	}
}

// pullError says plainly when the registry refused the credentials: the
// engine reports that as a generic 500 whose text is the only clue.
func (e *Engine) pullError(err error) error {
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"unauthorized", "authentication required", "no basic auth credentials", "denied"} {
		if strings.Contains(msg, s) {
			return fmt.Errorf("the registry refused the credentials (%v); check the registry user and password or token", err)
		}
	}
	if client.IsErrConnectionFailed(err) {
		return e.wrap("pull", err)
	}
	return err
}

// Create creates a container publishing ports on c.PublishIP.
func (e *Engine) Create(ctx context.Context, c deploy.ContainerConfig) (string, error) {
	cfg := &container.Config{
		Image: c.Image, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Command, Labels: c.Labels,
		User: c.User, WorkingDir: c.Workdir, ExposedPorts: nat.PortSet{},
	}
	if c.StopTimeout > 0 {
		s := stopSeconds(c.StopTimeout)
		cfg.StopTimeout = &s
	}
	hc := &container.HostConfig{
		PortBindings: nat.PortMap{},
		NetworkMode:  container.NetworkMode(c.NetworkMode),
		Resources:    container.Resources{Memory: c.MemoryBytes, NanoCPUs: c.NanoCPUs},
	}
	name, retries, _ := strings.Cut(c.RestartPolicy, ":")
	hc.RestartPolicy.Name = container.RestartPolicyMode(name)
	if n, err := strconv.Atoi(retries); err == nil {
		hc.RestartPolicy.MaximumRetryCount = n
	}
	for _, p := range c.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port := nat.Port(fmt.Sprintf("%d/%s", p.ContainerPort, proto))
		cfg.ExposedPorts[port] = struct{}{}
		hp := ""
		if p.HostPort != 0 {
			hp = strconv.Itoa(p.HostPort)
		}
		hc.PortBindings[port] = append(hc.PortBindings[port], nat.PortBinding{HostIP: c.PublishIP, HostPort: hp})
	}
	for _, m := range c.Mounts {
		t := mount.TypeBind
		if m.Volume {
			t = mount.TypeVolume
		}
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: t, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	resp, err := e.cli.ContainerCreate(ctx, cfg, hc, nil, nil, c.Name)
	if err != nil {
		return "", e.wrap("create container "+c.Name, err)
	}
	return resp.ID, nil
}

// Start starts a container.
func (e *Engine) Start(ctx context.Context, id string) error {
	return e.wrap("start container "+short(id), e.cli.ContainerStart(ctx, id, container.StartOptions{}))
}

// Stop stops a container; timeout 0 uses the container's own stop timeout.
func (e *Engine) Stop(ctx context.Context, id string, timeout time.Duration) error {
	opts := container.StopOptions{}
	if timeout > 0 {
		s := stopSeconds(timeout)
		opts.Timeout = &s
	}
	return e.wrap("stop container "+short(id), e.cli.ContainerStop(ctx, id, opts))
}

// Remove force-removes a container (its anonymous volumes stay).
func (e *Engine) Remove(ctx context.Context, id string) error {
	return e.wrap("remove container "+short(id), e.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}))
}

// Inspect reports one container.
func (e *Engine) Inspect(ctx context.Context, id string) (deploy.Container, error) {
	ci, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		return deploy.Container{}, e.wrap("inspect container "+short(id), err)
	}
	return fromInspect(ci), nil
}

// List lists containers of every state carrying all the given labels.
func (e *Engine) List(ctx context.Context, labels map[string]string) ([]deploy.Container, error) {
	f := filters.NewArgs()
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	sums, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, e.wrap("list containers", err)
	}
	out := make([]deploy.Container, 0, len(sums))
	for _, s := range sums {
		ci, err := e.cli.ContainerInspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, e.wrap("inspect container "+short(s.ID), err)
		}
		out = append(out, fromInspect(ci))
	}
	return out, nil
}

// Logs returns the last lines of a container's output.
func (e *Engine) Logs(ctx context.Context, id string, lines int) ([]string, error) {
	rc, err := e.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(lines)})
	if err != nil {
		return nil, e.wrap("logs of container "+short(id), err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return nil, e.wrap("read logs of container "+short(id), err)
	}
	var out []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, nil
}

// RemoveImage removes an image; the engine refuses while a container uses it.
func (e *Engine) RemoveImage(ctx context.Context, id string) error {
	_, err := e.cli.ImageRemove(ctx, id, image.RemoveOptions{PruneChildren: true})
	return e.wrap("remove image "+short(id), err)
}

func fromInspect(ci container.InspectResponse) deploy.Container {
	c := deploy.Container{ID: ci.ID, Name: strings.TrimPrefix(ci.Name, "/"), ImageID: ci.Image, RestartCount: ci.RestartCount}
	if ci.Config != nil {
		c.Image, c.Labels = ci.Config.Image, ci.Config.Labels
	}
	c.Created, _ = time.Parse(time.RFC3339Nano, ci.Created)
	if st := ci.State; st != nil {
		c.State, c.Running, c.ExitCode = string(st.Status), st.Running, st.ExitCode
		if st.Restarting {
			c.Running = false
		}
		if st.Health != nil {
			c.Health = string(st.Health.Status)
		}
		c.StartedAt, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
		c.FinishedAt, _ = time.Parse(time.RFC3339Nano, st.FinishedAt)
	}
	if ci.HostConfig != nil {
		c.NetworkMode = string(ci.HostConfig.NetworkMode)
	}
	if ns := ci.NetworkSettings; ns != nil {
		c.IPAddress = ns.IPAddress
		for _, n := range ns.Networks {
			if c.IPAddress == "" && n != nil {
				c.IPAddress = n.IPAddress
			}
		}
		for port, binds := range ns.Ports {
			for _, b := range binds {
				hp, _ := strconv.Atoi(b.HostPort)
				c.Ports = append(c.Ports, deploy.PortBinding{HostIP: b.HostIP, HostPort: hp, ContainerPort: port.Int(), Protocol: port.Proto()})
			}
		}
	}
	return c
}

// stopSeconds is a positive stop timeout in the whole seconds the engine
// takes. It is at least 1: to the engine 0 means no grace at all.
func stopSeconds(d time.Duration) int {
	return max(1, int(d.Seconds()))
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
