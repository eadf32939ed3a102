package deploy

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

var _ Runtime = (*fakeRuntime)(nil)

// fakeRuntime is an in-memory container engine with Docker's observable
// behaviour where the deploy engine depends on it: a fixed host port is
// taken by one running container at a time, starting a running container or
// stopping a stopped one is a no-op, an image in use by any container cannot
// be removed, and a HEALTHCHECK reports "starting" for a moment after each
// start. How containers of an image behave once started is set per image
// reference (behaviour); any method can be made to fail (fail).
type fakeRuntime struct {
	mu          sync.Mutex
	registry    map[string]ImageInfo // what Pull finds, by reference
	images      map[string]ImageInfo // local images, by reference
	behave      map[string]behaviour // by image reference
	cs          map[string]*fakeContainer
	seq         int
	lastCreated time.Time
	errs        map[string]error // method name -> error it returns
	// hangs: how many more calls of a method block until their context
	// ends, as calls to a stuck engine or registry do.
	hangs map[string]int
	// configs: what each container was created with.
	configs map[string]ContainerConfig
	// noEnv: Inspect does not report a container's environment.
	noEnv   bool
	calls   []string // every call, "Method arg", in order
	changes []string // the calls that changed something
	// after, when set, is called after each successful call that changes
	// something (outside the lock): a test can crash the caller there.
	after func(method, arg string)
}

// behaviour is how a container of one image behaves after it starts.
type behaviour struct {
	// health is what the HEALTHCHECK settles on: "healthy" when empty,
	// "unhealthy", or "starting" for one that never decides.
	health string
	// exitCode, with exits, is the code the container exits with right after it starts.
	exits    bool
	exitCode int
	// startErr makes Start fail for containers of this image.
	startErr error
	logs     []string
}

// healthSettlesAfter is how long a started container's HEALTHCHECK says "starting".
const healthSettlesAfter = 3 * time.Millisecond

type fakeContainer struct {
	Container
	b  behaviour
	hc bool // the image has a HEALTHCHECK
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{registry: map[string]ImageInfo{}, images: map[string]ImageInfo{}, behave: map[string]behaviour{},
		cs: map[string]*fakeContainer{}, errs: map[string]error{}, hangs: map[string]int{}, configs: map[string]ContainerConfig{}}
}

// publish puts ref, with a HEALTHCHECK, in the registry for Pull to find.
func (f *fakeRuntime) publish(ref string, b behaviour) ImageInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	sum := sha256.Sum256([]byte(ref))
	repo, _, _ := splitRef(ref)
	img := ImageInfo{ID: "sha256:" + hex.EncodeToString(sum[:]), HasHealthcheck: true,
		RepoDigests: []string{repo + "@sha256:" + hex.EncodeToString(sum[:])[:60] + "d1d1"}}
	f.registry[ref], f.behave[ref] = img, b
	return img
}

// fail makes method return err from now on; a nil err heals it.
func (f *fakeRuntime) fail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.errs, method)
	} else {
		f.errs[method] = err
	}
}

// failAll makes every method return err (nil heals them all).
func (f *fakeRuntime) failAll(err error) {
	for _, m := range []string{"Image", "Pull", "Create", "Start", "Stop", "Remove", "Inspect", "List", "Logs", "RemoveImage"} {
		f.fail(m, err)
	}
}

// hang makes the next n calls of method block until their context ends.
func (f *fakeRuntime) hang(method string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hangs[method] = n
}

// stall blocks a hung method until ctx ends and returns ctx's error; the
// caller does not hold f.mu.
func (f *fakeRuntime) stall(ctx context.Context, method string) error {
	f.mu.Lock()
	hung := f.hangs[method] > 0
	if hung {
		f.hangs[method]--
		f.calls = append(f.calls, method+" (hung)")
	}
	f.mu.Unlock()
	if !hung {
		return nil
	}
	<-ctx.Done()
	return fmt.Errorf("%s: %w", method, ctx.Err())
}

// config returns what container id was created with.
func (f *fakeRuntime) config(id string) ContainerConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.configs[id]
}

// begin logs a call and returns its injected error; the caller holds f.mu.
func (f *fakeRuntime) begin(method, arg string) error {
	f.calls = append(f.calls, method+" "+arg)
	return f.errs[method]
}

// setAfter sets (nil clears) the hook called after each change.
func (f *fakeRuntime) setAfter(hook func(method, arg string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after = hook
}

func (f *fakeRuntime) changed(method, arg string) {
	f.mu.Lock()
	f.changes = append(f.changes, method+" "+arg)
	hook := f.after
	f.mu.Unlock()
	if hook != nil {
		hook(method, arg)
	}
}

func (f *fakeRuntime) get(id string) (*fakeContainer, error) {
	c, ok := f.cs[id]
	if !ok {
		return nil, fmt.Errorf("%w: no such container: %s", ErrNotFound, id)
	}
	return c, nil
}

// view is the container as the engine would report it now: its health
// settles and a container meant to exit exits a moment after it starts.
func (f *fakeRuntime) view(c *fakeContainer) Container {
	if c.Running && time.Since(c.StartedAt) >= healthSettlesAfter {
		switch {
		case c.b.exits:
			c.State, c.Running, c.ExitCode, c.FinishedAt = "exited", false, c.b.exitCode, time.Now()
		case c.hc && c.Health == "starting":
			c.Health = cmp.Or(c.b.health, "healthy")
		}
	}
	out := c.Container
	out.Labels = maps.Clone(c.Labels)
	out.Ports = slices.Clone(c.Ports)
	out.Env = nil // only Inspect reports it, as with Docker
	return out
}

func (f *fakeRuntime) Image(ctx context.Context, ref string) (ImageInfo, bool, error) {
	if err := f.stall(ctx, "Image"); err != nil {
		return ImageInfo{}, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Image", ref); err != nil {
		return ImageInfo{}, false, err
	}
	img, ok := f.images[ref]
	return img, ok, nil
}

func (f *fakeRuntime) Pull(ctx context.Context, ref string, _ *RegistryAuth, progress func(current, total int64, status string)) error {
	if err := f.stall(ctx, "Pull"); err != nil {
		return err
	}
	f.mu.Lock()
	if err := f.begin("Pull", ref); err != nil {
		f.mu.Unlock()
		return err
	}
	img, ok := f.registry[ref]
	if ok {
		f.images[ref] = img
	}
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("manifest for %s not found: manifest unknown", ref)
	}
	progress(1, 1, "Download complete")
	f.changed("Pull", ref)
	return nil
}

func (f *fakeRuntime) Create(ctx context.Context, cfg ContainerConfig) (string, error) {
	if err := f.stall(ctx, "Create"); err != nil {
		return "", err
	}
	f.mu.Lock()
	if err := f.begin("Create", cfg.Image); err != nil {
		f.mu.Unlock()
		return "", err
	}
	img, ok := f.images[cfg.Image]
	if !ok {
		f.mu.Unlock()
		return "", fmt.Errorf("%w: no such image: %s", ErrNotFound, cfg.Image)
	}
	for _, c := range f.cs {
		if c.Name == cfg.Name {
			f.mu.Unlock()
			return "", fmt.Errorf("conflict: the container name %q is already in use", cfg.Name)
		}
	}
	f.seq++
	id := fmt.Sprintf("%012d%052x", f.seq, f.seq)
	created := time.Now()
	if !created.After(f.lastCreated) {
		created = f.lastCreated.Add(time.Microsecond)
	}
	f.lastCreated = created
	c := &fakeContainer{b: f.behave[cfg.Image], hc: img.HasHealthcheck, Container: Container{
		ID: id, Name: cfg.Name, Image: cfg.Image, ImageID: img.ID, Labels: maps.Clone(cfg.Labels),
		State: "created", Created: created, NetworkMode: cfg.NetworkMode, Env: slices.Clone(cfg.Env)}}
	f.configs[id] = cfg
	for _, p := range cfg.Ports {
		hp := p.HostPort
		if hp == 0 {
			hp = 40000 + f.seq // an ephemeral port the engine picks
		}
		c.Ports = append(c.Ports, PortBinding{HostIP: cfg.PublishIP, HostPort: hp, ContainerPort: p.ContainerPort, Protocol: cmp.Or(p.Protocol, "tcp")})
	}
	f.cs[id] = c
	f.mu.Unlock()
	f.changed("Create", id)
	return id, nil
}

func (f *fakeRuntime) Start(ctx context.Context, id string) error {
	if err := f.stall(ctx, "Start"); err != nil {
		return err
	}
	f.mu.Lock()
	err := f.start(id)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.changed("Start", id)
	return nil
}

func (f *fakeRuntime) start(id string) error {
	if err := f.begin("Start", id); err != nil {
		return err
	}
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if c.Running {
		return nil
	}
	if c.b.startErr != nil {
		return c.b.startErr
	}
	for _, o := range f.cs {
		if o.ID == id || !o.Running {
			continue
		}
		for _, p := range c.Ports {
			for _, q := range o.Ports {
				if p.HostPort == q.HostPort && p.Protocol == q.Protocol {
					return fmt.Errorf("driver failed programming external connectivity: Bind for %s:%d failed: port is already allocated", p.HostIP, p.HostPort)
				}
			}
		}
	}
	c.State, c.Running, c.ExitCode, c.StartedAt = "running", true, 0, time.Now()
	if c.hc {
		c.Health = "starting"
	}
	return nil
}

func (f *fakeRuntime) Stop(ctx context.Context, id string, _ time.Duration) error {
	if err := f.stall(ctx, "Stop"); err != nil {
		return err
	}
	f.mu.Lock()
	if err := f.begin("Stop", id); err != nil {
		f.mu.Unlock()
		return err
	}
	c, err := f.get(id)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if c.Running {
		c.State, c.Running, c.FinishedAt = "exited", false, time.Now()
	}
	f.mu.Unlock()
	f.changed("Stop", id)
	return nil
}

func (f *fakeRuntime) Remove(ctx context.Context, id string) error {
	if err := f.stall(ctx, "Remove"); err != nil {
		return err
	}
	f.mu.Lock()
	if err := f.begin("Remove", id); err != nil {
		f.mu.Unlock()
		return err
	}
	if _, err := f.get(id); err != nil {
		f.mu.Unlock()
		return err
	}
	delete(f.cs, id)
	f.mu.Unlock()
	f.changed("Remove", id)
	return nil
}

func (f *fakeRuntime) Inspect(ctx context.Context, id string) (Container, error) {
	if err := f.stall(ctx, "Inspect"); err != nil {
		return Container{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Inspect", id); err != nil {
		return Container{}, err
	}
	c, err := f.get(id)
	if err != nil {
		return Container{}, err
	}
	out := f.view(c)
	if !f.noEnv {
		out.Env = slices.Clone(c.Env)
	}
	return out, nil
}

func (f *fakeRuntime) List(ctx context.Context, labels map[string]string) ([]Container, error) {
	if err := f.stall(ctx, "List"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("List", fmt.Sprint(labels)); err != nil {
		return nil, err
	}
	var out []Container
	for _, c := range f.cs {
		match := true
		for k, v := range labels {
			match = match && c.Labels[k] == v
		}
		if match {
			out = append(out, f.view(c))
		}
	}
	return out, nil
}

func (f *fakeRuntime) Logs(ctx context.Context, id string, lines int) ([]string, error) {
	if err := f.stall(ctx, "Logs"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("Logs", id); err != nil {
		return nil, err
	}
	c, err := f.get(id)
	if err != nil {
		return nil, err
	}
	return slices.Clone(c.b.logs[max(0, len(c.b.logs)-lines):]), nil
}

func (f *fakeRuntime) RemoveImage(_ context.Context, id string) error {
	f.mu.Lock()
	if err := f.begin("RemoveImage", id); err != nil {
		f.mu.Unlock()
		return err
	}
	for _, c := range f.cs {
		if c.ImageID == id {
			f.mu.Unlock()
			return fmt.Errorf("conflict: unable to remove image %s: image is being used by container %s", id, c.ID[:12])
		}
	}
	n := len(f.images)
	maps.DeleteFunc(f.images, func(_ string, img ImageInfo) bool { return img.ID == id })
	f.mu.Unlock()
	if n == len(f.images) {
		return fmt.Errorf("%w: no such image: %s", ErrNotFound, id)
	}
	f.changed("RemoveImage", id)
	return nil
}

// Test-side views: they bypass injected errors and log no calls.

// containersOf returns app's containers (every state), oldest first.
func (f *fakeRuntime) containersOf(app string) []Container {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Container
	for _, c := range f.cs {
		if c.Labels[LabelApp] == app {
			out = append(out, f.view(c))
		}
	}
	slices.SortFunc(out, func(a, b Container) int { return a.Created.Compare(b.Created) })
	return out
}

// state summarises app's containers, oldest first, as "version:state".
func (f *fakeRuntime) state(app string) string {
	var s []string
	for _, c := range f.containersOf(app) {
		s = append(s, c.Labels[LabelVersion]+":"+c.State)
	}
	return strings.Join(s, " ")
}

func (f *fakeRuntime) hasImage(ref string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.images[ref]
	return ok
}

// callLog returns the calls made so far.
func (f *fakeRuntime) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// changeCount is how many calls changed something so far.
func (f *fakeRuntime) changeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.changes)
}

// changesSince returns the changes after the first n.
func (f *fakeRuntime) changesSince(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes[n:])
}

// errEngineDown is what the docker package returns when the engine is unreachable.
var errEngineDown = fmt.Errorf("%w: list containers: Docker Engine at unix:///var/run/docker.sock: connection refused", ErrUnavailable)
