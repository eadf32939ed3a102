package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"time"
)

// DefaultRetain is how many stopped versions of an app are kept for rollback.
const DefaultRetain = 5

// Engine runs deploys and rollbacks for one node.
type Engine struct {
	rt        Runtime
	store     *Store
	node      string
	publishIP string
	log       *slog.Logger
	// Retain is how many stopped versions to keep per app.
	Retain int
	// PullAllowance is how long a pull may take; it is part of every
	// deploy's deadline (see deployBudget).
	PullAllowance time.Duration
	lim           limits

	mu    sync.Mutex
	locks map[string]lockInfo
}

type lockInfo struct {
	deployID, caller string
	since            time.Time
}

// New returns an engine for node; containers publish ports on publishIP.
func New(rt Runtime, store *Store, node, publishIP string, log *slog.Logger) *Engine {
	return &Engine{rt: rt, store: store, node: node, publishIP: publishIP, log: log, Retain: DefaultRetain,
		PullAllowance: DefaultPullAllowance, lim: defaultLimits, locks: map[string]lockInfo{}}
}

// lock takes the app's lock or fails at once naming the holder: a second
// deploy of the same app must not queue silently behind the first.
func (e *Engine) lock(app, id, caller string) (func(), error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if h, held := e.locks[app]; held {
		return nil, fmt.Errorf("%w: %s is being changed by deploy %s (caller %s, since %s); wait for it or check `labcontroller history`",
			ErrLocked, app, h.deployID, orDash(h.caller), h.since.UTC().Format(time.RFC3339))
	}
	e.locks[app] = lockInfo{deployID: id, caller: caller, since: time.Now()}
	return func() {
		e.mu.Lock()
		delete(e.locks, app)
		e.mu.Unlock()
	}, nil
}

// reconcileID is the lock holder name of the repair loop.
const reconcileID = "reconcile"

// lockForDeploy is lock for a deploy or rollback: it waits out the repair
// loop (which holds a lock for a moment) but fails at once on another deploy.
func (e *Engine) lockForDeploy(ctx context.Context, app, id, caller string) (func(), error) {
	for {
		unlock, err := e.lock(app, id, caller)
		if err == nil || !e.heldBy(app, reconcileID) {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (e *Engine) heldBy(app, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, held := e.locks[app]
	return held && h.deployID == id
}

// locked reports whether a deploy or repair holds the app's lock.
func (e *Engine) locked(app string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, held := e.locks[app]
	return held
}

// appLabels selects an app's containers on this node only.
func (e *Engine) appLabels(app string) map[string]string {
	return map[string]string{LabelNode: e.node, LabelApp: app}
}

// containers lists an app's containers, newest first.
func (e *Engine) containers(ctx context.Context, app string) ([]Container, error) {
	cs, err := e.rt.List(ctx, e.appLabels(app))
	if err != nil {
		return nil, err
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Created.After(cs[j].Created) })
	return cs, nil
}

// current returns the app's current container: the one recorded as
// current if it still exists (running or not), else the newest running one.
func (e *Engine) current(ctx context.Context, app string, cs []Container) *Container {
	if rec, ok := e.store.GetCurrent(app); ok {
		for i := range cs {
			if cs[i].ID == rec.ContainerID {
				return &cs[i]
			}
		}
	}
	for i := range cs {
		if cs[i].Running {
			return &cs[i]
		}
	}
	return nil
}

var nameSafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// containerName is unique per engine: node, app and a random suffix.
func (e *Engine) containerName(app string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%s-%s", nameSafe.ReplaceAllString(e.node, "_"), app, hex.EncodeToString(b))
}

func healthLabel(h Health) string {
	b, _ := json.Marshal(h)
	return string(b)
}

// healthOf reads the gate recorded on a container, so a revert or rollback
// checks the old version the way it was checked when it was deployed.
func healthOf(c *Container) Health {
	var h Health
	if c != nil {
		if err := json.Unmarshal([]byte(c.Labels[LabelHealth]), &h); err != nil {
			h = Health{Type: HealthNone}
		}
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.Interval <= 0 {
		h.Interval = DefaultHealthInterval
	}
	return h
}

// GetApp reports one app.
func (e *Engine) GetApp(ctx context.Context, app string) (App, error) {
	cs, err := e.containers(ctx, app)
	if err != nil {
		return App{}, err
	}
	if len(cs) == 0 {
		return App{}, fmt.Errorf("%w: no app %q on node %s", ErrNotFound, app, e.node)
	}
	return e.describe(ctx, app, cs), nil
}

func (e *Engine) describe(ctx context.Context, app string, cs []Container) App {
	a := App{Name: app, Health: "stopped"}
	cur := e.current(ctx, app, cs)
	if cur != nil {
		a.Container = cur
		switch {
		case !cur.Running:
			a.Health = "stopped"
		case cur.Health != "":
			a.Health = cur.Health
		case healthOf(cur).Type == HealthHTTP:
			if ok, _ := e.probe(ctx, probeClient, *cur, healthOf(cur)); ok {
				a.Health = "healthy"
			} else {
				a.Health = "unhealthy"
			}
		default:
			a.Health = "none"
		}
	}
	for _, c := range cs {
		if cur != nil && c.ID == cur.ID {
			continue
		}
		if !c.Running {
			a.RetainedVersions = append(a.RetainedVersions, c.Labels[LabelVersion])
		}
	}
	return a
}

// ListApps reports every app with a container on this node.
func (e *Engine) ListApps(ctx context.Context) ([]App, error) {
	cs, err := e.rt.List(ctx, map[string]string{LabelNode: e.node})
	if err != nil {
		return nil, err
	}
	byApp := map[string][]Container{}
	for _, c := range cs {
		byApp[c.Labels[LabelApp]] = append(byApp[c.Labels[LabelApp]], c)
	}
	names := make([]string, 0, len(byApp))
	for n := range byApp {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]App, 0, len(names))
	for _, n := range names {
		list := byApp[n]
		sort.Slice(list, func(i, j int) bool { return list[i].Created.After(list[j].Created) })
		out = append(out, e.describe(ctx, n, list))
	}
	return out, nil
}

// History returns recorded results, newest first.
func (e *Engine) History(app string, limit int) ([]Result, error) {
	return e.store.History(app, limit)
}

func isUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
