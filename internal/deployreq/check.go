package deployreq

import (
	"fmt"
	"slices"
	"strings"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// The checks below refuse what the request's own validation lets through
// but the agent or its Docker Engine would refuse, or quietly get wrong,
// after the lock and the pull: there a bad option costs a failed deploy on
// a node, here a usage error on the control server before any node is
// contacted.

// check refuses options whose request passes the agent's validation but
// cannot work. Errors are *OptionError.
func check(o Options) error {
	if err := checkPorts(o.Ports); err != nil {
		return err
	}
	if err := checkMounts(o.Volumes); err != nil {
		return err
	}
	return checkHealth(o)
}

func checkPorts(ports []string) error {
	seen := map[string]bool{}
	for _, p := range ports {
		pm, err := agentv1.ParsePortMapping(p)
		if err != nil || pm.GetHostPort() == 0 {
			continue // Build reports a bad one; the engine picks distinct ones for 0
		}
		key := fmt.Sprintf("%d/%s", pm.GetHostPort(), orTCP(pm.GetProtocol()))
		if seen[key] {
			return optErr(OptPorts, p, "host port %s is published twice", key)
		}
		seen[key] = true
	}
	return nil
}

func orTCP(proto string) string {
	if proto == "" {
		return "tcp"
	}
	return proto
}

// checkMounts refuses '..' in a mount's paths: the agent's host policy
// resolves a bind mount's source before it allows it, so such a path works
// only by surprise, and the one that was meant should be written.
func checkMounts(volumes []string) error {
	for _, v := range volumes {
		m, err := agentv1.ParseMount(v)
		if err != nil {
			continue // Build reports it
		}
		if m.GetType() != agentv1.MountType_MOUNT_TYPE_VOLUME && hasDotDot(m.GetSource()) {
			return optErr(OptVolumes, v, "the host path must not contain '..': write the directory it means")
		}
		if hasDotDot(m.GetTarget()) {
			return optErr(OptVolumes, v, "the target must not contain '..': write the directory it means")
		}
	}
	return nil
}

// checkHealth refuses health settings the agent would ignore or fail on
// only when the gate starts: a path for a gate that is not HTTP, and an
// HTTP gate with no port to probe.
func checkHealth(o Options) error {
	http := o.Health == "http" || ((o.Health == "" || o.Health == "auto") && o.HealthPath != "")
	switch {
	case o.HealthPath != "" && (o.Health == "none" || o.Health == "docker"):
		return optErr(OptHealthPath, o.HealthPath, "is for an HTTP health check, but the health check is %s: drop one", o.Health)
	case http && o.HealthPort == 0 && !publishesTCP(o.Ports):
		return optErr(OptHealthPath, o.HealthPath, "needs a port to probe: publish a TCP port or set the health port")
	}
	return nil
}

func publishesTCP(ports []string) bool {
	for _, p := range ports {
		if pm, err := agentv1.ParsePortMapping(p); err == nil && orTCP(pm.GetProtocol()) == "tcp" {
			return true
		}
	}
	return false
}

// Preflight refuses option combinations that Build accepts but the agent
// refuses before it changes anything: start-first beside a fixed host port.
// A front end that builds a request to send calls it after Build. Errors
// are *OptionError.
func Preflight(o Options) error {
	if strategies[o.Strategy] != agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST {
		return nil
	}
	for _, p := range o.Ports {
		if pm, err := agentv1.ParsePortMapping(p); err == nil && pm.GetHostPort() != 0 {
			return optErr(OptStrategy, o.Strategy, "runs the old and new containers side by side, but host port %d is fixed (%s): use stop-first or let the engine pick the host port (0:%d)",
				pm.GetHostPort(), p, pm.GetContainerPort())
		}
	}
	return nil
}

func hasDotDot(p string) bool { return slices.Contains(strings.Split(p, "/"), "..") }
