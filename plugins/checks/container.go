//go:build !labfleet_lean

package checks

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/plugins/pluginkit"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

var checkContainer = pluginkit.Spec{
	Name:    "check_container",
	Label:   "CONTAINER",
	Summary: "is an app's container (or every app's) running, healthy and stable?",
	Usage:   "-H HOST [agent options] [--app NAME] [-w RANGE] [-c RANGE] [--min-uptime DURATION] [--expect-version V] [--expect-digest D]",
	Help: `Asks the agent for --app (GetApp) or for every app it manages (ListApps).
CRITICAL when an app's container is not running, is unhealthy, or does not run
--expect-version / --expect-digest, and when --app is not deployed there;
WARNING while its health check is still starting or when it has run for less
than --min-uptime. -w/-c apply to the container's restart count (defaults
-w 3 -c 10: the engine restarting a container a few times is worth a look,
ten times is a crash loop). UNKNOWN when the node has no apps and no --app
was given. Perfdata per app: restarts and uptime.`,
	New: func() pluginkit.Plugin { return &containerCheck{} },
}

// digestRe is an image digest as the agent reports it (sha256:<64 hex>),
// also accepted shortened.
var digestRe = regexp.MustCompile(`^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{6,}$`)

type containerCheck struct {
	agent                       pluginkit.AgentFlags
	app                         string
	warn, crit                  *pluginkit.RangeValue
	minUptime                   time.Duration
	expectVersion, expectDigest string
}

func (c *containerCheck) Flags(fs *pflag.FlagSet) {
	c.agent.Register(fs)
	fs.StringVar(&c.app, "app", "", "check only this app `NAME` (default: every app on the node)")
	c.warn = pluginkit.RangeFlag(fs, "warning", "w", "3", "WARNING `RANGE` for the restart count")
	c.crit = pluginkit.RangeFlag(fs, "critical", "c", "10", "CRITICAL `RANGE` for the restart count")
	fs.DurationVar(&c.minUptime, "min-uptime", 0, "WARNING when a container has run for less than `DURATION` (e.g. 5m)")
	fs.StringVar(&c.expectVersion, "expect-version", "", "CRITICAL unless the app runs `VERSION`")
	fs.StringVar(&c.expectDigest, "expect-digest", "", "CRITICAL unless the app runs image `DIGEST` (sha256:...)")
}

func (c *containerCheck) Run(ctx context.Context, r *pluginkit.Result) error {
	if c.minUptime < 0 {
		return pluginkit.Usagef("--min-uptime %s is negative", c.minUptime)
	}
	if c.app != "" {
		if err := agentv1.ValidateAppName("--app", c.app); err != nil {
			return pluginkit.Usagef("%v", err)
		}
	}
	if d := c.expectDigest; d != "" && !digestRe.MatchString(d) {
		return pluginkit.Usagef("--expect-digest %q: want ALGORITHM:HEX, e.g. sha256:1a106076e5f7... (labcontroller status shows it)", d)
	}
	conn, err := c.agent.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	addr := c.agent.Addr()

	var apps []*agentv1.App
	if c.app != "" {
		r.Stage("calling GetApp(%s) on the agent at %s", c.app, addr)
		resp, err := conn.Agent.GetApp(ctx, &agentv1.GetAppRequest{App: c.app})
		if status.Code(err) == codes.NotFound {
			r.Critical("app %s is not deployed on the node at %s", c.app, addr)
			return nil
		}
		if err != nil {
			pluginkit.AgentFailure(ctx, r, conn, err)
			return nil
		}
		apps = []*agentv1.App{resp.GetApp()}
	} else {
		r.Stage("calling ListApps on the agent at %s", addr)
		resp, err := conn.Agent.ListApps(ctx, &agentv1.ListAppsRequest{})
		if err != nil {
			pluginkit.AgentFailure(ctx, r, conn, err)
			return nil
		}
		apps = resp.GetApps()
		if len(apps) == 0 {
			r.Unknown("no apps are deployed on the node at %s (give --app NAME to require one)", addr)
			return nil
		}
	}
	slices.SortFunc(apps, func(a, b *agentv1.App) int { return strings.Compare(a.GetName(), b.GetName()) })

	var fine []string
	for _, a := range apps {
		if c.checkApp(r, a) {
			fine = append(fine, fmt.Sprintf("%s %s", a.GetName(), a.GetVersion()))
		}
	}
	if len(fine) == len(apps) {
		if len(apps) == 1 {
			a := apps[0]
			r.OK("%s %s running, %s, %s, up %s", a.GetName(), a.GetVersion(), healthWord(a.GetHealth()),
				plural(int(a.GetRestartCount()), "restart"), human(uptime(a)))
		} else {
			how := "running and healthy"
			for _, a := range apps {
				if a.GetHealth() != agentv1.AppHealth_APP_HEALTH_HEALTHY {
					how = "running"
				}
			}
			r.OK("%s %s: %s", plural(len(apps), "app"), how, strings.Join(fine, ", "))
		}
	}
	return nil
}

// checkApp records one app's findings and reports whether all are fine.
func (c *containerCheck) checkApp(r *pluginkit.Result, a *agentv1.App) bool {
	name := a.GetName()
	up := uptime(a)
	restarts := float64(a.GetRestartCount())
	r.Perf(pluginkit.Perf{Label: name + "_restarts", Value: restarts, Warn: c.warn.Range(), Crit: c.crit.Range(), Min: pluginkit.F(0)})
	var minUp *pluginkit.Range
	if c.minUptime > 0 {
		minUp = &pluginkit.Range{Start: c.minUptime.Seconds(), End: inf}
	}
	r.Perf(pluginkit.Perf{Label: name + "_uptime", Value: up.Seconds(), UOM: "s", Warn: minUp, Min: pluginkit.F(0)})
	state := fmt.Sprintf("%s, up %s", a.GetState(), human(up))
	if a.GetState() != "running" {
		state = fmt.Sprintf("%s, last exit code %d", orNone(a.GetState()), a.GetLastExitCode())
	}
	r.Long("%s: %s, health %s, version %s, image %s, %s, container %s",
		name, state, healthWord(a.GetHealth()), a.GetVersion(), a.GetImage(), plural(int(a.GetRestartCount()), "restart"),
		short(a.GetContainerId()))
	r.Verbose(1, "%s: digest %s, deploy %s, retained versions %s", name, a.GetImageDigest(), a.GetDeployId(),
		strings.Join(a.GetRetainedVersions(), ", "))

	ok := true
	bad := func(s pluginkit.Status, format string, args ...any) {
		r.Add(s, "%s: "+format, append([]any{name}, args...)...)
		ok = false
	}
	switch h := a.GetHealth(); {
	case a.GetState() != "running" || h == agentv1.AppHealth_APP_HEALTH_STOPPED:
		state := a.GetState()
		if state == "" {
			state = "no container"
		}
		bad(pluginkit.CRITICAL, "not running (%s, last exit code %d)", state, a.GetLastExitCode())
	case h == agentv1.AppHealth_APP_HEALTH_UNHEALTHY:
		bad(pluginkit.CRITICAL, "unhealthy")
	case h == agentv1.AppHealth_APP_HEALTH_STARTING:
		bad(pluginkit.WARNING, "health check still starting")
	}
	if s := pluginkit.Evaluate(restarts, c.warn.Range(), c.crit.Range()); s != pluginkit.OK {
		bad(s, "restarted %d times (breaches %s)", a.GetRestartCount(), breach(s, "-w "+c.warn.String(), "-c "+c.crit.String()))
	}
	if c.minUptime > 0 && a.GetState() == "running" && up < c.minUptime {
		bad(pluginkit.WARNING, "running for only %s (--min-uptime %s)", human(up), c.minUptime)
	}
	if c.expectVersion != "" && a.GetVersion() != c.expectVersion {
		bad(pluginkit.CRITICAL, "runs version %q, expected %q", a.GetVersion(), c.expectVersion)
	}
	if c.expectDigest != "" && !sameDigest(a.GetImageDigest(), c.expectDigest) {
		bad(pluginkit.CRITICAL, "runs image %s, expected %s", a.GetImageDigest(), c.expectDigest)
	}
	return ok
}

func uptime(a *agentv1.App) time.Duration {
	if a.GetState() != "running" || a.GetStartedAt() == nil {
		return 0
	}
	return max(time.Since(a.GetStartedAt().AsTime()), 0)
}

func healthWord(h agentv1.AppHealth) string {
	switch h {
	case agentv1.AppHealth_APP_HEALTH_HEALTHY:
		return "healthy"
	case agentv1.AppHealth_APP_HEALTH_UNHEALTHY:
		return "unhealthy"
	case agentv1.AppHealth_APP_HEALTH_STARTING:
		return "starting"
	case agentv1.AppHealth_APP_HEALTH_NONE:
		return "no health check"
	case agentv1.AppHealth_APP_HEALTH_STOPPED:
		return "stopped"
	}
	return "health unknown"
}

// sameDigest compares digests, accepting an image reference (repo@sha256:...)
// for either.
func sameDigest(have, want string) bool {
	strip := func(s string) string {
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			s = s[i+1:]
		}
		return strings.ToLower(strings.TrimSpace(s))
	}
	return have != "" && strip(have) == strip(want)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
