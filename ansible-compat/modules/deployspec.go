package modules

import (
	"errors"

	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// deploySpelling is how labfleet_deploy names each deploy option.
var deploySpelling = deployreq.Spelling{
	deployreq.OptApp: "app", deployreq.OptImage: "image", deployreq.OptVersion: "version", deployreq.OptDeployID: "deploy_id",
	deployreq.OptPorts: "ports", deployreq.OptEnv: "env", deployreq.OptSecretEnv: "secret_env", deployreq.OptLabels: "labels",
	deployreq.OptVolumes: "volumes", deployreq.OptCommand: "command", deployreq.OptEntrypoint: "entrypoint", deployreq.OptNetwork: "network",
	deployreq.OptRestart: "restart", deployreq.OptUser: "user", deployreq.OptWorkdir: "workdir", deployreq.OptMemory: "memory",
	deployreq.OptCPUs: "cpus", deployreq.OptStopTimeout: "stop_timeout", deployreq.OptHealth: "health", deployreq.OptHealthPath: "health_path",
	deployreq.OptHealthPort: "health_port", deployreq.OptHealthTimeout: "health_timeout", deployreq.OptHealthInterval: "health_interval",
	deployreq.OptPull: "pull", deployreq.OptStrategy: "strategy", deployreq.OptRegistry: "registry",
	deployreq.OptRegistryUser: "registry_user", deployreq.OptRegistryPassword: "registry_password",
}

// deployOptions reads labfleet_deploy's options into deployreq.Options.
func deployOptions(p *Params) deployreq.Options {
	return deployreq.Options{
		App: p.Str("app"), Image: p.Str("image"), Version: p.Str("version"), DeployID: p.Str("deploy_id"),
		Ports: p.List("ports"), Env: p.Dict("env"), SecretEnv: p.Dict("secret_env"), Labels: p.Dict("labels"),
		Volumes: p.List("volumes"), Command: p.List("command"), Entrypoint: p.List("entrypoint"),
		Network: p.Str("network"), Restart: p.Str("restart"), User: p.Str("user"), Workdir: p.Str("workdir"),
		Memory: p.Str("memory"), CPUs: p.Float("cpus"), StopTimeout: p.Duration("stop_timeout"),
		Health: p.Str("health"), HealthPath: p.Str("health_path"), HealthPort: p.Int("health_port"),
		HealthTimeout: p.Duration("health_timeout"), HealthInterval: p.Duration("health_interval"),
		Pull: p.Str("pull"), Strategy: p.Str("strategy"),
		Registry: p.Str("registry"), RegistryUser: p.Str("registry_user"), RegistryPassword: p.Str("registry_password"),
	}
}

// deployRequest builds the DeployRequest from labfleet_deploy's options
// through deployreq, the same builder `labcontroller deploy` uses, so the
// same settings give the same request.
func deployRequest(p *Params) (*agentv1.DeployRequest, error) {
	o := deployOptions(p)
	req, err := deployreq.Build(o)
	if err == nil {
		err = deployreq.Preflight(o)
	}
	var oe *deployreq.OptionError
	if errors.As(err, &oe) {
		return nil, optErr("%s", oe.In(deploySpelling))
	}
	return req, err
}
