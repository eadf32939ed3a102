package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/labfleet/labfleet/controller/lock"
	"github.com/labfleet/labfleet/controller/rollout"
	"github.com/labfleet/labfleet/internal/fleet"
	"github.com/labfleet/labfleet/internal/haproxy"
)

// rollFlags are the rollout flags deploy and rollback share.
type rollFlags struct {
	batch        int
	drainTimeout time.Duration
	upTimeout    time.Duration
	wait         time.Duration
	noAutoRevert bool
	lockWait     time.Duration
	stateDir     string
	dryRun       bool
	idleTimeout  time.Duration
}

// DefaultIdleTimeout is --idle-timeout's default: far longer than the agent
// is ever silent in a healthy deploy outside an announced health gate (it
// reports every phase and a pull's progress twice a second), short enough
// that a hung agent does not hold up a CI job for long.
const DefaultIdleTimeout = 2 * time.Minute

func (f *rollFlags) bind(fs *pflag.FlagSet) {
	fs.IntVar(&f.batch, "batch", 1, "nodes changed at once; behind --haproxy at most all but one")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "longest wait for a drained server's sessions to end")
	fs.DurationVar(&f.upTimeout, "up-timeout", 60*time.Second, "longest wait for HAProxy to see a server up again")
	fs.DurationVar(&f.wait, "wait", 0, "pause between batches")
	fs.BoolVar(&f.noAutoRevert, "no-auto-revert", false, "when a node fails, keep the nodes already changed on the new version")
	fs.DurationVar(&f.lockWait, "lock-wait", 0, "wait this long for another controller's deploy of the app instead of failing at once")
	fs.StringVar(&f.stateDir, "state-dir", "", "where the fleet lock lives (default $LABFLEET_STATE_DIR, /var/lib/labfleet or ~/.local/state/labfleet)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print what would change on which node, touching nothing")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", DefaultIdleTimeout,
		"give up on a node whose agent sends no progress for this long (on top of the health gate it announces); 0 waits forever")
}

func (f *rollFlags) check() error {
	if f.batch < 1 {
		return usageErr("--batch %d: must be at least 1", f.batch)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--idle-timeout", f.idleTimeout}, {"--drain-timeout", f.drainTimeout}, {"--up-timeout", f.upTimeout}, {"--wait", f.wait}, {"--lock-wait", f.lockWait}} {
		if d.v < 0 {
			return usageErr("%s %s: must not be negative", d.name, d.v)
		}
	}
	return nil
}

func (f *rollFlags) plan(nodes []fleet.Node) rollout.Plan {
	p := rollout.Plan{Batch: f.batch, DrainTimeout: f.drainTimeout, UpTimeout: f.upTimeout, Wait: f.wait, AutoRevert: !f.noAutoRevert}
	for _, n := range nodes {
		p.Nodes = append(p.Nodes, rollout.Node{Name: n.Name, Server: serverName(n)})
	}
	return p
}

// serverName is the node's server in the HAProxy backend: the host var
// haproxy_server, else the inventory name.
func serverName(n fleet.Node) string {
	if s, ok := n.Vars["haproxy_server"]; ok && fmt.Sprint(s) != "" {
		return fmt.Sprint(s)
	}
	return n.Name
}

// lock takes the fleet lock of app.
func (f *rollFlags) lock(ctx context.Context, app, deployID, command string) (func(), error) {
	dir := f.stateDir
	if dir == "" {
		dir = lock.DefaultDir()
	}
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = fmt.Sprint(os.Getuid())
	}
	release, err := lock.Acquire(ctx, dir+"/locks", lock.Holder{App: app, DeployID: deployID, PID: os.Getpid(), User: user,
		Host: host, Command: command, Since: time.Now()}, f.lockWait)
	if err != nil {
		return nil, failed{msg: err.Error()}
	}
	return release, nil
}

// balancer is the HAProxy backend as rollout sees it.
type balancer struct {
	c       *haproxy.Client
	backend string
}

var _ rollout.Balancer = (*balancer)(nil)

func newBalancer(g *globals) (*balancer, error) {
	if g.haproxy == "" {
		return nil, nil
	}
	if g.backend == "" {
		return nil, usageErr("--haproxy needs --haproxy-backend NAME (the backend the nodes are servers of)")
	}
	return &balancer{c: haproxy.New(g.haproxy), backend: g.backend}, nil
}

func (b *balancer) Check(ctx context.Context, servers []string) error {
	have, err := b.c.Servers(ctx, b.backend)
	if err != nil {
		return fmt.Errorf("HAProxy at %s: %w", b.c.Addr, err)
	}
	names := map[string]bool{}
	var list []string
	for _, s := range have {
		names[s.Name] = true
		list = append(list, s.Name)
	}
	var missing []string
	for _, s := range servers {
		if !names[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("HAProxy backend %s has no server %s (it has %s); name the servers after the inventory hosts or set the host var haproxy_server",
			b.backend, strings.Join(missing, ", "), strings.Join(list, ", "))
	}
	return nil
}

func (b *balancer) SetState(ctx context.Context, server, state string) error {
	return b.c.SetState(ctx, b.backend, server, state)
}

func (b *balancer) WaitDrained(ctx context.Context, server string) error {
	return b.c.WaitDrained(ctx, b.backend, server, 200*time.Millisecond)
}

func (b *balancer) WaitUp(ctx context.Context, server string) error {
	return b.c.WaitUp(ctx, b.backend, server, 200*time.Millisecond)
}

// Up reports whether the server can take traffic now: its health checks
// pass at full health and HAProxy may use it (ready, not drain or maint,
// and weight above 0). A server an agent-check holds at "up 0%" (a node
// whose MariaDB has not caught up) passes its health checks but serves
// nothing, so it must not count for the rollout's guard that something
// outside the batch still serves.
func (b *balancer) Up(ctx context.Context, server string) (bool, error) {
	s, err := b.c.Server(ctx, b.backend, server)
	if err != nil {
		return false, err
	}
	return s.Healthy() && s.Usable(), nil
}

// state is the server's state for status output.
func (b *balancer) state(ctx context.Context, server string) string {
	s, err := b.c.Server(ctx, b.backend, server)
	if err != nil {
		return "?"
	}
	return s.Status
}
