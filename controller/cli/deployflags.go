package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// deployFlags are the `docker run`-like flags of `labcontroller deploy`.
type deployFlags struct {
	app, image, version, deployID      string
	ports, env, secretEnv, volumes     []string
	labels                             []string
	healthPath, healthType             string
	healthPort                         int
	healthTimeout, healthInterval      time.Duration
	restart, network, user, workdir    string
	memory                             string
	cpus                               float64
	stopTimeout                        time.Duration
	entrypoint                         string
	pull, strategy                     string
	registryUser, registryPasswordFile string
	registryServer                     string
}

func (f *deployFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.app, "app", "", "app name (required)")
	fs.StringVar(&f.image, "image", "", "image reference (required)")
	fs.StringVar(&f.version, "version", "", "version label (default: the image tag)")
	fs.StringVar(&f.deployID, "deploy-id", "", "deploy id; re-sending a finished id returns its result (default: generated)")
	fs.StringArrayVarP(&f.ports, "port", "p", nil, "publish HOST:CONTAINER[/udp] on the node's publish address (repeatable)")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "environment K=V (repeatable)")
	fs.StringArrayVar(&f.secretEnv, "secret-env", nil, "secret environment K=@FILE (value read from FILE) or K (value from this environment); never logged (repeatable)")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "bind mount /host:/container[:ro] or volume NAME:/container[:ro] (repeatable)")
	fs.StringArrayVar(&f.labels, "label", nil, "container label K=V (repeatable)")
	fs.StringVar(&f.healthPath, "health-path", "", "HTTP path the agent probes, e.g. /healthz")
	fs.IntVar(&f.healthPort, "health-port", 0, "container port to probe (default: the first published port)")
	fs.StringVar(&f.healthType, "health", "auto", "health gate: auto, http, docker (the image's HEALTHCHECK) or none")
	fs.DurationVar(&f.healthTimeout, "timeout", 60*time.Second, "how long the new container has to become healthy")
	fs.DurationVar(&f.healthInterval, "health-interval", time.Second, "time between health probes")
	fs.StringVar(&f.restart, "restart", "unless-stopped", "restart policy: no, always, unless-stopped, on-failure[:N]")
	fs.StringVar(&f.network, "network", "", "network mode (default: the engine's bridge)")
	fs.StringVar(&f.user, "user", "", "user inside the container")
	fs.StringVar(&f.workdir, "workdir", "", "working directory inside the container")
	fs.StringVar(&f.memory, "memory", "", "memory limit, e.g. 256m or 1g")
	fs.Float64Var(&f.cpus, "cpus", 0, "CPU limit, e.g. 0.5")
	fs.DurationVar(&f.stopTimeout, "stop-timeout", 0, "how long the old container gets to stop (default: the engine's 10s)")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "override the image ENTRYPOINT")
	fs.StringVar(&f.pull, "pull", "", "pull policy: always, if-not-present, never (default: always for :latest, else if-not-present)")
	fs.StringVar(&f.strategy, "strategy", "stop-first", "stop-first, or start-first (only without fixed host ports)")
	fs.StringVar(&f.registryUser, "registry-user", "", "registry user name")
	fs.StringVar(&f.registryPasswordFile, "registry-password-file", "", "file holding the registry password or token (or set LABFLEET_REGISTRY_PASSWORD)")
	fs.StringVar(&f.registryServer, "registry", "", "registry server address for the credentials (default: from the image)")
}

// request builds the DeployRequest; args after `--` become the command.
// Usage errors name the flag and the expected form.
func (f *deployFlags) request(command []string) (*agentv1.DeployRequest, []string, error) {
	if f.app == "" || f.image == "" {
		return nil, nil, usageErr("deploy needs --app NAME and --image REF")
	}
	spec := &agentv1.ContainerSpec{Env: map[string]string{}, SecretEnv: map[string]string{}, Labels: map[string]string{},
		RestartPolicy: f.restart, NetworkMode: f.network, User: f.user, Workdir: f.workdir, Cpus: f.cpus, Command: command}
	if f.entrypoint != "" {
		spec.Entrypoint = []string{f.entrypoint}
	}
	if f.stopTimeout > 0 {
		spec.StopTimeout = durationpb.New(f.stopTimeout)
	}
	for _, p := range f.ports {
		pm, err := agentv1.ParsePortMapping(p)
		if err != nil {
			return nil, nil, usageErr("--port %q: %v", p, err)
		}
		spec.Ports = append(spec.Ports, pm)
	}
	for _, e := range f.env {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return nil, nil, usageErr("--env %q: want KEY=VALUE", e)
		}
		spec.Env[k] = v
	}
	var secrets []string
	for _, e := range f.secretEnv {
		k, v, err := secretValue(e)
		if err != nil {
			return nil, nil, usageErr("--secret-env %q: %v", strings.SplitN(e, "=", 2)[0], err)
		}
		spec.SecretEnv[k] = v
		secrets = append(secrets, v)
	}
	for _, l := range f.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, nil, usageErr("--label %q: want KEY=VALUE", l)
		}
		spec.Labels[k] = v
	}
	for _, v := range f.volumes {
		m, err := agentv1.ParseMount(v)
		if err != nil {
			return nil, nil, usageErr("--volume %q: %v", v, err)
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	if f.memory != "" {
		n, err := parseBytes(f.memory)
		if err != nil {
			return nil, nil, usageErr("--memory %q: %v", f.memory, err)
		}
		spec.MemoryBytes = n
	}
	req := &agentv1.DeployRequest{App: f.app, Image: f.image, Version: f.version, DeployId: f.deployID, Spec: spec,
		Health: &agentv1.HealthCheck{HttpPath: f.healthPath, HttpPort: uint32(f.healthPort),
			Timeout: durationpb.New(f.healthTimeout), Interval: durationpb.New(f.healthInterval)}}
	switch f.healthType {
	case "auto":
	case "http":
		req.Health.Type = agentv1.HealthCheckType_HEALTH_CHECK_TYPE_HTTP
	case "docker":
		req.Health.Type = agentv1.HealthCheckType_HEALTH_CHECK_TYPE_DOCKER
	case "none":
		req.Health.Type = agentv1.HealthCheckType_HEALTH_CHECK_TYPE_NONE
	default:
		return nil, nil, usageErr("--health %q: use auto, http, docker or none", f.healthType)
	}
	switch f.pull {
	case "":
	case "always":
		req.PullPolicy = agentv1.PullPolicy_PULL_POLICY_ALWAYS
	case "if-not-present":
		req.PullPolicy = agentv1.PullPolicy_PULL_POLICY_IF_NOT_PRESENT
	case "never":
		req.PullPolicy = agentv1.PullPolicy_PULL_POLICY_NEVER
	default:
		return nil, nil, usageErr("--pull %q: use always, if-not-present or never", f.pull)
	}
	switch f.strategy {
	case "stop-first":
		req.Strategy = agentv1.DeployStrategy_DEPLOY_STRATEGY_STOP_FIRST
	case "start-first":
		req.Strategy = agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST
	default:
		return nil, nil, usageErr("--strategy %q: use stop-first or start-first", f.strategy)
	}
	if f.registryUser != "" {
		pw := os.Getenv("LABFLEET_REGISTRY_PASSWORD")
		if f.registryPasswordFile != "" {
			b, err := os.ReadFile(f.registryPasswordFile)
			if err != nil {
				return nil, nil, usageErr("--registry-password-file: %v", err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		if pw == "" {
			return nil, nil, usageErr("--registry-user needs --registry-password-file FILE or LABFLEET_REGISTRY_PASSWORD")
		}
		req.RegistryAuth = &agentv1.RegistryAuth{Username: f.registryUser, Password: pw, ServerAddress: f.registryServer}
		secrets = append(secrets, pw)
	}
	if err := req.Validate(); err != nil {
		return nil, nil, usageErr("%v", err)
	}
	return req, secrets, nil
}

// secretValue reads K=@FILE (trailing newline dropped) or K (from the
// environment); a literal K=VALUE is refused so no secret lands in argv.
func secretValue(s string) (string, string, error) {
	k, v, hasValue := strings.Cut(s, "=")
	if k == "" {
		return "", "", fmt.Errorf("want KEY=@FILE or KEY")
	}
	if !hasValue {
		val, ok := os.LookupEnv(k)
		if !ok {
			return "", "", fmt.Errorf("environment variable %s is not set", k)
		}
		return k, val, nil
	}
	file, ok := strings.CutPrefix(v, "@")
	if !ok {
		return "", "", fmt.Errorf("a secret value on the command line shows in `ps` and shell history; use %s=@FILE or export %s and pass --secret-env %s", k, k, k)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", err
	}
	return k, strings.TrimRight(string(b), "\r\n"), nil
}

func parseBytes(s string) (int64, error) {
	mult := int64(1)
	switch strings.ToLower(s[len(s)-1:]) {
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size like 512m or 1g")
	}
	return n * mult, nil
}
