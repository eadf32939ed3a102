//go:build !labfleet_lean

package checks

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/pflag"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/labfleet/labfleet/plugins/pluginkit"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

var checkLabagent = pluginkit.Spec{
	Name:    "check_labagent",
	Label:   "LABAGENT",
	Summary: "is the labagent up, serving, recent enough, and can it reach Docker?",
	Usage:   "-H HOST [-p PORT] [--cacert FILE] [--cert FILE --key FILE] [--token-file FILE] [--insecure] [-w RANGE] [-c RANGE] [--min-version V] [-t SECONDS] [-v]",
	Help: `Asks the agent's gRPC health service for labfleet.agent.v1.AgentService, then
GetInfo. CRITICAL when the agent cannot be reached, refuses the credentials,
is not SERVING, or cannot reach its Docker Engine; WARNING when it is older
than --min-version; the round-trip time of the health call is checked
against -w/-c (seconds) and is the 'rtt' perfdata.`,
	New: func() pluginkit.Plugin { return &labagentCheck{} },
}

type labagentCheck struct {
	agent      pluginkit.AgentFlags
	warn, crit *pluginkit.RangeValue
	minVersion string
}

func (c *labagentCheck) Flags(fs *pflag.FlagSet) {
	c.agent.Register(fs)
	c.warn = pluginkit.RangeFlag(fs, "warning", "w", "1", "WARNING `RANGE` for the round-trip time in seconds")
	c.crit = pluginkit.RangeFlag(fs, "critical", "c", "5", "CRITICAL `RANGE` for the round-trip time in seconds")
	fs.StringVar(&c.minVersion, "min-version", "", "WARNING when the agent's version is older than `VERSION`")
}

func (c *labagentCheck) Run(ctx context.Context, r *pluginkit.Result) error {
	if c.minVersion != "" {
		if _, ok := compareVersions(c.minVersion, c.minVersion); !ok {
			return pluginkit.Usagef("--min-version %q is not a version such as v1.2.0", c.minVersion)
		}
	}
	conn, err := c.agent.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	addr := c.agent.Addr()

	r.Stage("checking the gRPC health of the agent at %s", addr)
	start := time.Now()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: agentv1.AgentService_ServiceDesc.ServiceName})
	rtt := time.Since(start)
	if err != nil {
		pluginkit.AgentFailure(ctx, r, addr, err)
		return nil
	}
	r.Perf(pluginkit.Perf{Label: "rtt", Value: rtt.Seconds(), UOM: "s", Warn: c.warn.Range(), Crit: c.crit.Range(), Min: pluginkit.F(0)})
	if st := h.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		r.Critical("agent at %s is %s", addr, st)
		return nil
	}

	r.Stage("calling GetInfo on the agent at %s", addr)
	info, err := conn.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
	if err != nil {
		pluginkit.AgentFailure(ctx, r, addr, err)
		return nil
	}
	r.Perf(pluginkit.Perf{Label: "uptime", Value: info.GetUptime().AsDuration().Seconds(), UOM: "s", Min: pluginkit.F(0)})

	node, ver := info.GetNodeName(), info.GetAgentVersion()
	d := info.GetDocker()
	docker := "Docker " + d.GetVersion() + " reachable"
	if !d.GetReachable() {
		docker = "Docker Engine NOT reachable"
		r.Critical("agent %s cannot reach its Docker Engine: %s", node, oneLine(d.GetError()))
	}
	switch s := pluginkit.Evaluate(rtt.Seconds(), c.warn.Range(), c.crit.Range()); s {
	case pluginkit.OK:
		r.OK("agent %s %s SERVING, %s, rtt %s", node, ver, docker, human(rtt))
	default:
		r.Add(s, "agent %s round trip %s breaches %s", node, human(rtt), breach(s, "-w "+c.warn.String(), "-c "+c.crit.String()))
	}
	if c.minVersion != "" {
		switch cmp, ok := compareVersions(ver, c.minVersion); {
		case !ok:
			r.Warning("agent %s reports version %q, which cannot be compared with --min-version %s", node, ver, c.minVersion)
		case cmp < 0:
			r.Warning("agent %s version %s is older than --min-version %s", node, ver, c.minVersion)
		}
	}

	r.Long("agent %s (host %s) version %s, up %s, publishes on %s", node, info.GetHostname(), ver,
		human(info.GetUptime().AsDuration()), info.GetPublishIp())
	if d.GetReachable() {
		r.Long("Docker Engine %s (API %s) reachable", d.GetVersion(), d.GetApiVersion())
	} else {
		r.Long("Docker Engine not reachable: %s", oneLine(d.GetError()))
	}
	if m := info.GetMariadb(); m.GetConfigured() {
		if m.GetReachable() {
			r.Long("MariaDB %s at %s reachable", m.GetVersion(), m.GetAddress())
		} else {
			r.Long("MariaDB at %s not reachable: %s", m.GetAddress(), oneLine(m.GetError()))
		}
	}
	r.Verbose(1, "capabilities: %s; the agent sees this caller as %q", strings.Join(info.GetCapabilities(), ", "), info.GetCaller())
	return nil
}
