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
	"sync/atomic"
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

// Image reports a local image.
func (e *Engine) Image(ctx context.Context, ref string) (deploy.ImageInfo, bool, error) {
	c, err := e.begin(ctx, "inspect image "+ref, e.callTimeout())
	if err != nil {
		return deploy.ImageInfo{}, false, err
	}
	defer c.end()
	ii, err := e.cli.ImageInspect(c.ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return deploy.ImageInfo{}, false, nil
	}
	if err != nil {
		return deploy.ImageInfo{}, false, c.wrap(err)
	}
	info := deploy.ImageInfo{ID: ii.ID, RepoDigests: ii.RepoDigests}
	if ii.Config != nil && ii.Config.Healthcheck != nil && len(ii.Config.Healthcheck.Test) > 0 && ii.Config.Healthcheck.Test[0] != "NONE" {
		info.HasHealthcheck = true
	}
	return info, true, nil
}

// Causes that end a pull: the engine has not started answering, or its
// progress stream went silent.
var (
	errNoAnswer    = errors.New("no answer")
	errPullStalled = errors.New("pull stalled")
)

// Pull pulls ref and reads the progress stream to its end; errors the
// registry reports (bad credentials, unknown tag) arrive inside the stream.
// The engine must start answering within CallTimeout, and then report
// progress at least every PullIdleTimeout; the whole pull may take
// PullTimeout.
func (e *Engine) Pull(ctx context.Context, ref string, auth *deploy.RegistryAuth, progress func(cur, total int64, status string)) error {
	opts := image.PullOptions{}
	if auth != nil && auth.Username != "" {
		enc, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: auth.Username, Password: auth.Password, ServerAddress: auth.Server})
		if err != nil {
			return fmt.Errorf("cannot encode registry credentials: %w", err)
		}
		opts.RegistryAuth = enc
	}
	c, err := e.begin(ctx, "pull "+ref, e.pullTimeout())
	if err != nil {
		return err
	}
	defer c.end()
	// Until the engine answers, the call's limit is CallTimeout; after
	// that, the silence allowed between two progress messages.
	sctx, stall := context.WithCancelCause(c.ctx)
	defer stall(nil)
	var answered atomic.Bool
	idle := time.AfterFunc(e.callTimeout(), func() {
		if answered.Load() {
			stall(errPullStalled)
		} else {
			stall(errNoAnswer)
		}
	})
	defer idle.Stop()
	rc, err := e.cli.ImagePull(sctx, ref, opts)
	if err != nil {
		return e.pullError(c, sctx, err)
	}
	defer rc.Close()
	answered.Store(true)
	idle.Reset(e.pullIdleTimeout())
	dec := json.NewDecoder(rc)
	layers := map[string][2]int64{}
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return e.pullError(c, sctx, fmt.Errorf("read pull progress of %s: %w", ref, err))
		}
		idle.Reset(e.pullIdleTimeout())
		if m.Error != nil {
			return e.pullError(c, sctx, errors.New(m.Error.Message))
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
// engine reports that as a generic 500 whose text is the only clue. A pull
// the engine never started answering is an unavailable engine; one whose
// progress stopped is a failed pull (the registry may be the one stuck).
func (e *Engine) pullError(c *call, sctx context.Context, err error) error {
	switch context.Cause(sctx) {
	case errNoAnswer:
		if c.parent.Err() == nil {
			return fmt.Errorf("%w: %s: the Docker Engine at %s did not answer within %s (is dockerd hung?)", deploy.ErrUnavailable, c.what, e.Host(), e.callTimeout())
		}
	case errPullStalled:
		return fmt.Errorf("%s: no progress for %s; the registry or the Docker Engine is stuck", c.what, e.pullIdleTimeout())
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"unauthorized", "authentication required", "no basic auth credentials", "denied"} {
		if strings.Contains(msg, s) {
			return fmt.Errorf("the registry refused the credentials (%v); check the registry user and password or token", err)
		}
	}
	if client.IsErrConnectionFailed(err) || errors.Is(err, context.DeadlineExceeded) {
		return c.wrap(err)
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
	call, err := e.begin(ctx, "create container "+c.Name, e.callTimeout())
	if err != nil {
		return "", err
	}
	defer call.end()
	resp, err := e.cli.ContainerCreate(call.ctx, cfg, hc, nil, nil, c.Name)
	if err != nil {
		return "", call.wrap(err)
	}
	return resp.ID, nil
}

// Start starts a container.
func (e *Engine) Start(ctx context.Context, id string) error {
	c, err := e.begin(ctx, "start container "+short(id), e.callTimeout())
	if err != nil {
		return err
	}
	defer c.end()
	return c.wrap(e.cli.ContainerStart(c.ctx, id, container.StartOptions{}))
}

// Stop stops a container; timeout 0 uses the container's own stop timeout.
// The call may take that timeout plus CallTimeout.
func (e *Engine) Stop(ctx context.Context, id string, timeout time.Duration) error {
	opts := container.StopOptions{}
	grace := timeout
	if timeout > 0 {
		s := stopSeconds(timeout)
		opts.Timeout = &s
		grace = time.Duration(s) * time.Second
	} else {
		own, err := e.stopGrace(ctx, id)
		if err != nil {
			return err
		}
		grace = own
	}
	c, err := e.begin(ctx, "stop container "+short(id), grace+e.callTimeout())
	if err != nil {
		return err
	}
	defer c.end()
	return c.wrap(e.cli.ContainerStop(c.ctx, id, opts))
}

// stopGrace is the stop timeout the container was created with.
func (e *Engine) stopGrace(ctx context.Context, id string) (time.Duration, error) {
	c, err := e.begin(ctx, "inspect container "+short(id), e.callTimeout())
	if err != nil {
		return 0, err
	}
	defer c.end()
	ci, err := e.cli.ContainerInspect(c.ctx, id)
	if err != nil {
		return 0, c.wrap(err)
	}
	if ci.Config != nil && ci.Config.StopTimeout != nil && *ci.Config.StopTimeout > 0 {
		return time.Duration(*ci.Config.StopTimeout) * time.Second, nil
	}
	return defaultStopGrace, nil
}

// Remove force-removes a container (its anonymous volumes stay).
func (e *Engine) Remove(ctx context.Context, id string) error {
	c, err := e.begin(ctx, "remove container "+short(id), e.removeTimeout())
	if err != nil {
		return err
	}
	defer c.end()
	return c.wrap(e.cli.ContainerRemove(c.ctx, id, container.RemoveOptions{Force: true}))
}

// Inspect reports one container, its environment included (secrets too:
// the deploy engine uses it only to mask them).
func (e *Engine) Inspect(ctx context.Context, id string) (deploy.Container, error) {
	c, err := e.begin(ctx, "inspect container "+short(id), e.callTimeout())
	if err != nil {
		return deploy.Container{}, err
	}
	defer c.end()
	ci, err := e.cli.ContainerInspect(c.ctx, id)
	if err != nil {
		return deploy.Container{}, c.wrap(err)
	}
	out := fromInspect(ci)
	if ci.Config != nil {
		out.Env = append([]string{}, ci.Config.Env...)
	}
	return out, nil
}

// List lists containers of every state carrying all the given labels. The
// listing and the inspections share one CallTimeout.
func (e *Engine) List(ctx context.Context, labels map[string]string) ([]deploy.Container, error) {
	c, err := e.begin(ctx, "list containers", e.callTimeout())
	if err != nil {
		return nil, err
	}
	defer c.end()
	f := filters.NewArgs()
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	sums, err := e.cli.ContainerList(c.ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, c.wrap(err)
	}
	out := make([]deploy.Container, 0, len(sums))
	for _, s := range sums {
		ci, err := e.cli.ContainerInspect(c.ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			c.what = "inspect container " + short(s.ID)
			return nil, c.wrap(err)
		}
		out = append(out, fromInspect(ci))
	}
	return out, nil
}

// Logs returns the last lines of a container's output.
func (e *Engine) Logs(ctx context.Context, id string, lines int) ([]string, error) {
	c, err := e.begin(ctx, "logs of container "+short(id), e.callTimeout())
	if err != nil {
		return nil, err
	}
	defer c.end()
	rc, err := e.cli.ContainerLogs(c.ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(lines)})
	if err != nil {
		return nil, c.wrap(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		c.what = "read logs of container " + short(id)
		return nil, c.wrap(err)
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
	c, err := e.begin(ctx, "remove image "+short(id), e.removeTimeout())
	if err != nil {
		return err
	}
	defer c.end()
	_, err = e.cli.ImageRemove(c.ctx, id, image.RemoveOptions{PruneChildren: true})
	return c.wrap(err)
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
// takes, rounded up (a container never gets less grace than asked). It is
// at least 1: to the engine 0 means no grace at all.
func stopSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
