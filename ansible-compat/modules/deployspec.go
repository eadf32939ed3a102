package modules

import (
	"fmt"

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
		pm, err := agentv1.ParsePortMapping(s)
		if err != nil {
			return nil, fmt.Errorf("%w: ports: %q: %v", errOptions, s, err)
		}
		spec.Ports = append(spec.Ports, pm)
	}
	for _, s := range p.List("volumes") {
		m, err := agentv1.ParseMount(s)
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
