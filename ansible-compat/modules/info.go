package modules

import (
	"context"
	"fmt"

	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func init() {
	register(&Module{Name: "labfleet_info", Options: withConn(), Run: runInfo})
}

// runInfo gathers facts about the node's agent, its Docker Engine, its
// MariaDB and its apps as ansible_facts.labfleet. It changes nothing.
func runInfo(ctx context.Context, p *Params) *Result {
	c, addr, fail := dial(p)
	if fail != nil {
		return fail
	}
	defer c.Close()
	info, err := call(ctx, p, func(ctx context.Context) (*agentv1.GetInfoResponse, error) {
		return c.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
	})
	if err != nil {
		return Fail(explain(addr, err))
	}
	r := OK(false, "")
	apps := []any{}
	list, err := call(ctx, p, func(ctx context.Context) (*agentv1.ListAppsResponse, error) {
		return c.Agent.ListApps(ctx, &agentv1.ListAppsRequest{})
	})
	if err != nil {
		// Facts about the agent are still worth having when the engine is down.
		r.Warnings = append(r.Warnings, "cannot list apps: "+explain(addr, err))
	}
	for _, a := range list.GetApps() {
		apps = append(apps, appFacts(a))
	}
	d, m := info.GetDocker(), info.GetMariadb()
	facts := map[string]any{
		"agent":          addr,
		"agent_version":  info.GetAgentVersion(),
		"node_name":      info.GetNodeName(),
		"hostname":       info.GetHostname(),
		"publish_ip":     info.GetPublishIp(),
		"capabilities":   orEmpty(info.GetCapabilities()),
		"uptime_seconds": int64(info.GetUptime().AsDuration().Seconds()),
		"caller":         info.GetCaller(),
		"docker": map[string]any{
			"reachable": d.GetReachable(), "version": d.GetVersion(), "api_version": d.GetApiVersion(), "error": d.GetError(),
		},
		"mariadb": map[string]any{
			"configured": m.GetConfigured(), "reachable": m.GetReachable(), "version": m.GetVersion(),
			"address": m.GetAddress(), "error": m.GetError(),
		},
		"apps": apps,
	}
	r.Facts = map[string]any{"labfleet": facts}
	r.Msg = "agent " + info.GetAgentVersion() + " on " + info.GetNodeName() + ", " + plural(len(apps), "app")
	return r
}

// appFacts is one app as the facts show it.
func appFacts(a *agentv1.App) map[string]any {
	ports := []string{}
	for _, p := range a.GetPorts() {
		s := fmt.Sprintf("%d:%d", p.GetHostPort(), p.GetContainerPort())
		if p.GetProtocol() != "" && p.GetProtocol() != "tcp" {
			s += "/" + p.GetProtocol()
		}
		ports = append(ports, s)
	}
	return map[string]any{
		"name":              a.GetName(),
		"version":           a.GetVersion(),
		"image":             a.GetImage(),
		"digest":            a.GetImageDigest(),
		"health":            deployreq.HealthName(a.GetHealth()),
		"state":             a.GetState(),
		"container_id":      a.GetContainerId(),
		"deploy_id":         a.GetDeployId(),
		"restart_count":     a.GetRestartCount(),
		"ports":             ports,
		"retained_versions": orEmpty(a.GetRetainedVersions()),
	}
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
