package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// deployFlags are the `docker run`-like flags of `labcontroller deploy`.
// They bind into deployreq.Options, the one builder of deploy requests;
// only the forms that read secrets (K=@FILE, a password file) and the
// lists given as repeated K=V flags are gathered here first.
type deployFlags struct {
	o                    deployreq.Options
	env, secretEnv       []string
	labels               []string
	entrypoint           string
	registryPasswordFile string
}

// cliSpelling is how labcontroller spells each deploy option in messages.
var cliSpelling = deployreq.Spelling{
	deployreq.OptApp: "--app", deployreq.OptImage: "--image", deployreq.OptVersion: "--version", deployreq.OptDeployID: "--deploy-id",
	deployreq.OptPorts: "--port", deployreq.OptEnv: "--env", deployreq.OptSecretEnv: "--secret-env", deployreq.OptLabels: "--label",
	deployreq.OptVolumes: "--volume", deployreq.OptCommand: "-- COMMAND", deployreq.OptEntrypoint: "--entrypoint", deployreq.OptNetwork: "--network",
	deployreq.OptRestart: "--restart", deployreq.OptUser: "--user", deployreq.OptWorkdir: "--workdir", deployreq.OptMemory: "--memory",
	deployreq.OptCPUs: "--cpus", deployreq.OptStopTimeout: "--stop-timeout", deployreq.OptHealth: "--health", deployreq.OptHealthPath: "--health-path",
	deployreq.OptHealthPort: "--health-port", deployreq.OptHealthTimeout: "--timeout", deployreq.OptHealthInterval: "--health-interval",
	deployreq.OptPull: "--pull", deployreq.OptStrategy: "--strategy", deployreq.OptRegistry: "--registry",
	deployreq.OptRegistryUser: "--registry-user", deployreq.OptRegistryPassword: "--registry-password-file",
}

func (f *deployFlags) bind(fs *pflag.FlagSet) {
	o := &f.o
	fs.StringVar(&o.App, "app", "", "app name (required)")
	fs.StringVar(&o.Image, "image", "", "image reference (required)")
	fs.StringVar(&o.Version, "version", "", "version label (default: the image tag)")
	fs.StringVar(&o.DeployID, "deploy-id", "", "deploy id; re-sending a finished id returns its result (default: generated)")
	fs.StringArrayVarP(&o.Ports, "port", "p", nil, "publish HOST:CONTAINER[/udp] on the node's publish address (repeatable)")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "environment K=V (repeatable)")
	fs.StringArrayVar(&f.secretEnv, "secret-env", nil, "secret environment K=@FILE (value read from FILE) or K (value from this environment); never logged (repeatable)")
	fs.StringArrayVarP(&o.Volumes, "volume", "v", nil, "bind mount /host:/container[:ro] or volume NAME:/container[:ro] (repeatable)")
	fs.StringArrayVar(&f.labels, "label", nil, "container label K=V (repeatable)")
	fs.StringVar(&o.HealthPath, "health-path", "", "HTTP path the agent probes, e.g. /healthz")
	fs.IntVar(&o.HealthPort, "health-port", 0, "container port to probe (default: the first published port)")
	fs.StringVar(&o.Health, "health", deployreq.DefaultHealth, "health gate: auto, http, docker (the image's HEALTHCHECK) or none")
	fs.DurationVar(&o.HealthTimeout, "timeout", deployreq.DefaultHealthTimeout, "how long the new container has to become healthy")
	fs.DurationVar(&o.HealthInterval, "health-interval", deployreq.DefaultHealthInterval, "time between health probes")
	fs.StringVar(&o.Restart, "restart", deployreq.DefaultRestart, "restart policy: no, always, unless-stopped, on-failure[:N]")
	fs.StringVar(&o.Network, "network", "", "network mode (default: the engine's bridge)")
	fs.StringVar(&o.User, "user", "", "user inside the container")
	fs.StringVar(&o.Workdir, "workdir", "", "working directory inside the container")
	fs.StringVar(&o.Memory, "memory", "", "memory limit, e.g. 256m or 1g")
	fs.Float64Var(&o.CPUs, "cpus", 0, "CPU limit, e.g. 0.5")
	fs.DurationVar(&o.StopTimeout, "stop-timeout", 0, "how long the old container gets to stop (default: the engine's 10s)")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "override the image ENTRYPOINT")
	fs.StringVar(&o.Pull, "pull", "", "pull policy: always, if-not-present, never (default: always for :latest, else if-not-present)")
	fs.StringVar(&o.Strategy, "strategy", deployreq.DefaultStrategy, "stop-first, or start-first (only without fixed host ports)")
	fs.StringVar(&o.RegistryUser, "registry-user", "", "registry user name")
	fs.StringVar(&f.registryPasswordFile, "registry-password-file", "", "file holding the registry password or token (or set LABFLEET_REGISTRY_PASSWORD)")
	fs.StringVar(&o.Registry, "registry", "", "registry server address for the credentials (default: from the image)")
}

// options gathers the flags into deployreq.Options, reading secret values
// from their files or the environment; args after `--` become the command.
func (f *deployFlags) options(command []string) (deployreq.Options, error) {
	o := f.o
	o.Command = command
	o.Env, o.SecretEnv, o.Labels = map[string]string{}, map[string]string{}, map[string]string{}
	if f.entrypoint != "" {
		o.Entrypoint = []string{f.entrypoint}
	}
	for _, e := range f.env {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return o, usageErr("--env %q: want KEY=VALUE", e)
		}
		o.Env[k] = v
	}
	for _, e := range f.secretEnv {
		k, v, err := secretValue(e)
		if err != nil {
			return o, usageErr("--secret-env %q: %v", strings.SplitN(e, "=", 2)[0], err)
		}
		o.SecretEnv[k] = v
	}
	for _, l := range f.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return o, usageErr("--label %q: want KEY=VALUE", l)
		}
		o.Labels[k] = v
	}
	if o.RegistryUser != "" {
		o.RegistryPassword = os.Getenv("LABFLEET_REGISTRY_PASSWORD")
		if f.registryPasswordFile != "" {
			b, err := os.ReadFile(f.registryPasswordFile)
			if err != nil {
				return o, usageErr("--registry-password-file: %v", err)
			}
			o.RegistryPassword = strings.TrimRight(string(b), "\r\n")
		}
		if o.RegistryPassword == "" {
			return o, usageErr("--registry-user needs --registry-password-file FILE or LABFLEET_REGISTRY_PASSWORD")
		}
	}
	return o, nil
}

// request builds the DeployRequest and returns the secret values to mask.
// Every option deployreq knows is checked here, before any node is
// contacted; usage errors name the flag and the expected form.
func (f *deployFlags) request(command []string) (*agentv1.DeployRequest, []string, error) {
	if f.o.App == "" || f.o.Image == "" {
		return nil, nil, usageErr("deploy needs --app NAME and --image REF")
	}
	o, err := f.options(command)
	if err != nil {
		return nil, nil, err
	}
	req, err := deployreq.Build(o)
	if err == nil {
		err = deployreq.Preflight(o)
	}
	var oe *deployreq.OptionError
	if errors.As(err, &oe) {
		return nil, nil, usageErr("%s", esc(oe.In(cliSpelling)))
	}
	if err != nil {
		return nil, nil, usageErr("%v", esc(err.Error()))
	}
	return req, deployreq.Secrets(o), nil
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
