package modules

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// deployRequest builds the DeployRequest from labfleet_deploy's options,
// the same request `labcontroller deploy` sends for the same settings.
func deployRequest(p *Params) (*agentv1.DeployRequest, error) {
	spec := &agentv1.ContainerSpec{
		Env:           p.Dict("env"),
		SecretEnv:     p.Dict("secret_env"),
		Labels:        p.Dict("labels"),
		Command:       p.List("command"),
		RestartPolicy: p.Str("restart"),
		NetworkMode:   p.Str("network"),
	}
	for _, s := range p.List("ports") {
		pm, err := parsePort(s)
		if err != nil {
			return nil, fmt.Errorf("%w: ports: %q: %v", errOptions, s, err)
		}
		spec.Ports = append(spec.Ports, pm)
	}
	for _, s := range p.List("volumes") {
		m, err := parseVolume(s)
		if err != nil {
			return nil, fmt.Errorf("%w: volumes: %q: %v", errOptions, s, err)
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	req := &agentv1.DeployRequest{
		App: p.Str("app"), Image: p.Str("image"), Version: p.Str("version"), DeployId: p.Str("deploy_id"), Spec: spec,
		Health: &agentv1.HealthCheck{HttpPath: p.Str("health_path"), HttpPort: uint32(p.Int("health_port")),
			Timeout: durationpb.New(p.Duration("health_timeout"))},
	}
	switch p.Str("health") {
	case "http":
		req.Health.Type = agentv1.HealthCheckType_HEALTH_CHECK_TYPE_HTTP
	case "docker":
		req.Health.Type = agentv1.HealthCheckType_HEALTH_CHECK_TYPE_DOCKER
	case "none":
		req.Health.Type = agentv1.HealthCheckType_HEALTH_CHECK_TYPE_NONE
	}
	switch p.Str("pull") {
	case "always":
		req.PullPolicy = agentv1.PullPolicy_PULL_POLICY_ALWAYS
	case "if_not_present", "if-not-present":
		req.PullPolicy = agentv1.PullPolicy_PULL_POLICY_IF_NOT_PRESENT
	case "never":
		req.PullPolicy = agentv1.PullPolicy_PULL_POLICY_NEVER
	}
	switch p.Str("strategy") {
	case "start_first", "start-first":
		req.Strategy = agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST
	default:
		req.Strategy = agentv1.DeployStrategy_DEPLOY_STRATEGY_STOP_FIRST
	}
	if u, pw := p.Str("registry_user"), p.Str("registry_password"); u != "" || pw != "" {
		if u == "" || pw == "" {
			return nil, fmt.Errorf("%w: registry_user and registry_password go together", errOptions)
		}
		req.RegistryAuth = &agentv1.RegistryAuth{Username: u, Password: pw, ServerAddress: p.Str("registry")}
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errOptions, err)
	}
	return req, nil
}

// parsePort reads HOST:CONTAINER[/tcp|udp], or CONTAINER alone (the engine
// picks the host port).
func parsePort(s string) (*agentv1.PortMapping, error) {
	proto := ""
	if p, pr, ok := strings.Cut(s, "/"); ok {
		s, proto = p, pr
	}
	host, ctr, ok := strings.Cut(s, ":")
	if !ok {
		host, ctr = "0", s
	}
	h, err1 := strconv.ParseUint(host, 10, 16)
	c, err2 := strconv.ParseUint(ctr, 10, 16)
	if err1 != nil || err2 != nil || c == 0 {
		return nil, fmt.Errorf("want HOST:CONTAINER[/tcp|udp], e.g. 8000:8000")
	}
	return &agentv1.PortMapping{HostPort: uint32(h), ContainerPort: uint32(c), Protocol: proto}, nil
}

// parseVolume reads /host/path:/target[:ro] (a bind mount) or
// NAME:/target[:ro] (a named volume).
func parseVolume(s string) (*agentv1.Mount, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("want SOURCE:TARGET[:ro]")
	}
	m := &agentv1.Mount{Source: parts[0], Target: parts[1], Type: agentv1.MountType_MOUNT_TYPE_BIND}
	if !strings.HasPrefix(parts[0], "/") {
		m.Type = agentv1.MountType_MOUNT_TYPE_VOLUME
	}
	if len(parts) == 3 {
		if parts[2] != "ro" && parts[2] != "rw" {
			return nil, fmt.Errorf("the third part must be ro or rw")
		}
		m.ReadOnly = parts[2] == "ro"
	}
	return m, nil
}
