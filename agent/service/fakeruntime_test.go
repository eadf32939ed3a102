package service

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/labfleet/labfleet/agent/deploy"
)

// fakeRuntime is a container engine in memory, just enough for the deploy
// engine to run deploys and rollbacks behind the service. Images named in
// registry can be pulled; an image in crashes exits with code 3 when started;
// down makes every call fail as an unreachable engine does. When pulling is
// set, a pull sends its reference there and waits until release is closed.
type fakeRuntime struct {
	mu               sync.Mutex
	registry, images map[string]deploy.ImageInfo
	containers       map[string]*deploy.Container
	crashes          map[string]bool
	logs             []string
	seq              int
	down             bool
	pulling          chan string
	release          chan struct{}
}

var _ deploy.Runtime = (*fakeRuntime)(nil)

func newFakeRuntime(images ...string) *fakeRuntime {
	f := &fakeRuntime{registry: map[string]deploy.ImageInfo{}, images: map[string]deploy.ImageInfo{},
		containers: map[string]*deploy.Container{}, crashes: map[string]bool{}}
	for i, ref := range images {
		f.registry[ref] = deploy.ImageInfo{ID: fmt.Sprintf("sha256:%064d", i+1)}
	}
	return f
}

func (f *fakeRuntime) check() error {
	if f.down {
		return fmt.Errorf("%w: cannot connect to the Docker daemon", deploy.ErrUnavailable)
	}
	return nil
}

func (f *fakeRuntime) Image(_ context.Context, ref string) (deploy.ImageInfo, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[ref]
	return img, ok, f.check()
}

func (f *fakeRuntime) Pull(_ context.Context, ref string, _ *deploy.RegistryAuth, progress func(int64, int64, string)) error {
	if f.pulling != nil {
		f.pulling <- ref
		<-f.release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	img, ok := f.registry[ref]
	if !ok {
		return fmt.Errorf("manifest for %s not found", ref)
	}
	progress(10, 10, "Download complete")
	f.images[ref] = img
	return nil
}

func (f *fakeRuntime) Create(_ context.Context, c deploy.ContainerConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return "", err
	}
	f.seq++
	id := fmt.Sprintf("c%015d", f.seq)
	ct := &deploy.Container{ID: id, Name: c.Name, Image: c.Image, ImageID: f.images[c.Image].ID, Labels: maps.Clone(c.Labels),
		State: "created", Created: time.Date(2026, 3, 1, 12, 0, f.seq, 0, time.UTC)} // newest last
	for _, p := range c.Ports {
		ct.Ports = append(ct.Ports, deploy.PortBinding{HostIP: c.PublishIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
	}
	f.containers[id] = ct
	return id, nil
}

func (f *fakeRuntime) set(id string, fn func(c *deploy.Container)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("%w: no container %s", deploy.ErrNotFound, id)
	}
	fn(c)
	return nil
}

func (f *fakeRuntime) Start(_ context.Context, id string) error {
	return f.set(id, func(c *deploy.Container) {
		if f.crashes[c.Image] {
			c.State, c.Running, c.ExitCode = "exited", false, 3
			return
		}
		// Started a minute ago: the gate without a health check passes at once.
		c.State, c.Running, c.StartedAt = "running", true, time.Now().Add(-time.Minute)
	})
}

func (f *fakeRuntime) Stop(_ context.Context, id string, _ time.Duration) error {
	return f.set(id, func(c *deploy.Container) { c.State, c.Running = "exited", false })
}

func (f *fakeRuntime) Remove(_ context.Context, id string) error {
	return f.set(id, func(*deploy.Container) { delete(f.containers, id) })
}

func (f *fakeRuntime) Inspect(_ context.Context, id string) (deploy.Container, error) {
	var out deploy.Container
	err := f.set(id, func(c *deploy.Container) { out = *c })
	return out, err
}

func (f *fakeRuntime) List(_ context.Context, labels map[string]string) ([]deploy.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []deploy.Container
	for _, c := range f.containers {
		match := true
		for k, v := range labels {
			match = match && c.Labels[k] == v
		}
		if match {
			out = append(out, *c)
		}
	}
	return out, f.check()
}

func (f *fakeRuntime) Logs(context.Context, string, int) ([]string, error) { return f.logs, f.check() }

func (f *fakeRuntime) RemoveImage(context.Context, string) error { return f.check() }
