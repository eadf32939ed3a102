// Package deployreq turns the settings of one deploy, however a front end
// gathers them (labcontroller's flags, an Ansible task's options, a spec
// file), into the one DeployRequest the agent receives. It also names the
// deploy enums for people and reads the Deploy and Rollback streams, so
// every front end says and does the same thing.
//
// It never reads files or the environment: a front end resolves secret
// values (from @FILE, an environment variable or a no_log option) before
// it fills Options, and spells option names its own way in errors through
// a Spelling.
package deployreq

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Defaults every front end shows and applies for options left unset.
const (
	DefaultRestart        = "unless-stopped"
	DefaultHealth         = "auto"
	DefaultStrategy       = "stop-first"
	DefaultHealthTimeout  = 60 * time.Second
	DefaultHealthInterval = time.Second
)

// Options are the settings of one deploy. Each field is one option of
// every front end; the Opt constants name them.
type Options struct {
	App      string
	Image    string
	Version  string
	DeployID string

	// Ports are HOST:CONTAINER[/udp] (HOST may be empty or 0 for any).
	Ports []string
	Env   map[string]string
	// SecretEnv values are the secrets themselves, already read by the
	// front end; the agent never records or returns them.
	SecretEnv map[string]string
	Labels    map[string]string
	// Volumes are /host:/container[:ro] bind mounts or NAME:/container[:ro]
	// named volumes.
	Volumes    []string
	Command    []string
	Entrypoint []string
	Network    string
	Restart    string
	User       string
	Workdir    string
	// Memory is a limit such as 512m or 1g ("" for none).
	Memory      string
	CPUs        float64
	StopTimeout time.Duration

	// Health is auto, http, docker or none ("" is auto).
	Health         string
	HealthPath     string
	HealthPort     int
	HealthTimeout  time.Duration
	HealthInterval time.Duration

	// Pull is always, if-not-present or never ("" lets the agent choose).
	Pull string
	// Strategy is stop-first or start-first ("" is stop-first).
	Strategy string

	Registry         string
	RegistryUser     string
	RegistryPassword string
}

// Opt names one option, independent of how a front end spells it.
type Opt string

// The options. Their order is the order of Options' fields.
const (
	OptApp              Opt = "app"
	OptImage            Opt = "image"
	OptVersion          Opt = "version"
	OptDeployID         Opt = "deploy-id"
	OptPorts            Opt = "ports"
	OptEnv              Opt = "env"
	OptSecretEnv        Opt = "secret-env"
	OptLabels           Opt = "labels"
	OptVolumes          Opt = "volumes"
	OptCommand          Opt = "command"
	OptEntrypoint       Opt = "entrypoint"
	OptNetwork          Opt = "network"
	OptRestart          Opt = "restart"
	OptUser             Opt = "user"
	OptWorkdir          Opt = "workdir"
	OptMemory           Opt = "memory"
	OptCPUs             Opt = "cpus"
	OptStopTimeout      Opt = "stop-timeout"
	OptHealth           Opt = "health"
	OptHealthPath       Opt = "health-path"
	OptHealthPort       Opt = "health-port"
	OptHealthTimeout    Opt = "health-timeout"
	OptHealthInterval   Opt = "health-interval"
	OptPull             Opt = "pull"
	OptStrategy         Opt = "strategy"
	OptRegistry         Opt = "registry"
	OptRegistryUser     Opt = "registry-user"
	OptRegistryPassword Opt = "registry-password"
)

// AllOpts lists every option, in the order of Options' fields. A front end
// offers each of them; its tests check that against its Spelling.
var AllOpts = []Opt{
	OptApp, OptImage, OptVersion, OptDeployID, OptPorts, OptEnv, OptSecretEnv, OptLabels, OptVolumes,
	OptCommand, OptEntrypoint, OptNetwork, OptRestart, OptUser, OptWorkdir, OptMemory, OptCPUs, OptStopTimeout,
	OptHealth, OptHealthPath, OptHealthPort, OptHealthTimeout, OptHealthInterval, OptPull, OptStrategy,
	OptRegistry, OptRegistryUser, OptRegistryPassword,
}

// requestFields maps each DeployRequest field (a path of proto field names)
// to the option that sets it, so a FieldError from the request's validation
// names the option the user wrote. Every field of the request is here, or
// in notOptions; a test walks the message descriptors to keep it so.
var requestFields = map[string]Opt{
	"app":                          OptApp,
	"image":                        OptImage,
	"version":                      OptVersion,
	"deploy_id":                    OptDeployID,
	"spec.ports":                   OptPorts,
	"spec.env":                     OptEnv,
	"spec.secret_env":              OptSecretEnv,
	"spec.labels":                  OptLabels,
	"spec.mounts":                  OptVolumes,
	"spec.command":                 OptCommand,
	"spec.entrypoint":              OptEntrypoint,
	"spec.network_mode":            OptNetwork,
	"spec.restart_policy":          OptRestart,
	"spec.user":                    OptUser,
	"spec.workdir":                 OptWorkdir,
	"spec.memory_bytes":            OptMemory,
	"spec.cpus":                    OptCPUs,
	"spec.stop_timeout":            OptStopTimeout,
	"health.type":                  OptHealth,
	"health.http_path":             OptHealthPath,
	"health.http_port":             OptHealthPort,
	"health.timeout":               OptHealthTimeout,
	"health.interval":              OptHealthInterval,
	"pull_policy":                  OptPull,
	"strategy":                     OptStrategy,
	"registry_auth.server_address": OptRegistry,
	"registry_auth.username":       OptRegistryUser,
	"registry_auth.password":       OptRegistryPassword,
}

// notOptions are request fields no deploy option sets: a front end's mode
// decides them (dry_run is labcontroller's --dry-run and Ansible's check
// mode).
var notOptions = map[string]string{
	"dry_run": "set by the front end's dry-run or check mode",
}

// Spelling says how one front end writes each option in messages, e.g.
// OptPorts is "--port" for labcontroller and "ports" for Ansible.
type Spelling map[Opt]string

// Name returns how s spells o; an option s does not know keeps its own name.
func (s Spelling) Name(o Opt) string {
	if n, ok := s[o]; ok {
		return n
	}
	return string(o)
}

// ErrOptions marks deploy options that cannot work.
var ErrOptions = errors.New("invalid deploy options")

// OptionError says which option is wrong and why. Render it with the
// front end's Spelling (In); Error spells options by their Opt names.
type OptionError struct {
	Opt Opt
	// Value is the offending value as given ("" when the option is missing
	// or the value is secret).
	Value string
	// Reason says what is wrong and what would be right.
	Reason string
	// With is another option this one needs (Reason is then empty).
	With Opt
}

func (e *OptionError) Error() string { return e.In(nil) }

// In renders the error with s's option names.
func (e *OptionError) In(s Spelling) string {
	name := s.Name(e.Opt)
	switch {
	case e.With != "":
		return fmt.Sprintf("%s needs %s", name, s.Name(e.With))
	case e.Value != "":
		return fmt.Sprintf("%s %q: %s", name, e.Value, e.Reason)
	}
	return name + " " + e.Reason
}

// Is makes errors.Is(err, ErrOptions) true for every OptionError.
func (e *OptionError) Is(target error) bool { return target == ErrOptions }

func optErr(o Opt, value, format string, args ...any) *OptionError {
	return &OptionError{Opt: o, Value: value, Reason: fmt.Sprintf(format, args...)}
}

// Build turns o into the request the agent receives, checked the way the
// agent checks it, and further for what would fail only mid-deploy (a host
// port published twice, '..' in a mount, an HTTP gate with no port).
// Errors are *OptionError. A front end that sends the request also calls
// Preflight.
func Build(o Options) (*agentv1.DeployRequest, error) {
	if o.App == "" {
		return nil, optErr(OptApp, "", "is required: the app's name, e.g. todo")
	}
	if o.Image == "" {
		return nil, optErr(OptImage, "", "is required: the image reference, e.g. registry.example:5000/todo:v2")
	}
	spec := &agentv1.ContainerSpec{
		Env: o.Env, SecretEnv: o.SecretEnv, Labels: o.Labels, Command: o.Command, Entrypoint: o.Entrypoint,
		RestartPolicy: o.Restart, NetworkMode: o.Network, User: o.User, Workdir: o.Workdir, Cpus: o.CPUs,
	}
	if o.StopTimeout > 0 {
		spec.StopTimeout = durationpb.New(o.StopTimeout)
	}
	for _, p := range o.Ports {
		pm, err := agentv1.ParsePortMapping(p)
		if err != nil {
			return nil, optErr(OptPorts, p, "%v", err)
		}
		spec.Ports = append(spec.Ports, pm)
	}
	for _, v := range o.Volumes {
		m, err := agentv1.ParseMount(v)
		if err != nil {
			return nil, optErr(OptVolumes, v, "%v", err)
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	if o.Memory != "" {
		n, err := ParseBytes(o.Memory)
		if err != nil {
			return nil, optErr(OptMemory, o.Memory, "%v", err)
		}
		spec.MemoryBytes = n
	}
	health := &agentv1.HealthCheck{HttpPath: o.HealthPath, HttpPort: uint32(o.HealthPort)}
	if o.HealthPort < 0 || o.HealthPort > 65535 {
		return nil, optErr(OptHealthPort, strconv.Itoa(o.HealthPort), "must be a port number 1-65535")
	}
	if o.HealthTimeout > 0 {
		health.Timeout = durationpb.New(o.HealthTimeout)
	}
	if o.HealthInterval > 0 {
		health.Interval = durationpb.New(o.HealthInterval)
	}
	var ok bool
	if health.Type, ok = healthTypes[o.Health]; !ok {
		return nil, optErr(OptHealth, o.Health, "use auto, http, docker or none")
	}
	req := &agentv1.DeployRequest{App: o.App, Image: o.Image, Version: o.Version, DeployId: o.DeployID, Spec: spec, Health: health}
	if req.PullPolicy, ok = pullPolicies[o.Pull]; !ok {
		return nil, optErr(OptPull, o.Pull, "use always, if-not-present or never")
	}
	if req.Strategy, ok = strategies[o.Strategy]; !ok {
		return nil, optErr(OptStrategy, o.Strategy, "use stop-first or start-first")
	}
	switch {
	case o.RegistryUser != "" && o.RegistryPassword == "":
		return nil, &OptionError{Opt: OptRegistryUser, With: OptRegistryPassword}
	case o.RegistryUser == "" && o.RegistryPassword != "":
		return nil, &OptionError{Opt: OptRegistryPassword, With: OptRegistryUser}
	case o.RegistryUser != "":
		req.RegistryAuth = &agentv1.RegistryAuth{Username: o.RegistryUser, Password: o.RegistryPassword, ServerAddress: o.Registry}
	case o.Registry != "":
		return nil, &OptionError{Opt: OptRegistry, With: OptRegistryUser}
	}
	if err := req.Validate(); err != nil {
		return nil, fromFieldError(err)
	}
	if err := check(o); err != nil {
		return nil, err
	}
	return req, nil
}

// Secrets returns the secret values in o, for front ends to mask in what
// they print.
func Secrets(o Options) []string {
	var out []string
	for _, v := range o.SecretEnv {
		out = append(out, v)
	}
	if o.RegistryPassword != "" {
		out = append(out, o.RegistryPassword)
	}
	return out
}

// fromFieldError names the option behind the request field the agent's
// validation refused. Secret values never reach the message: the agent's
// validation does not quote them.
func fromFieldError(err error) error {
	var fe *agentv1.FieldError
	if !errors.As(err, &fe) {
		return &OptionError{Opt: "request", Reason: err.Error()}
	}
	if o, ok := optionOf(fe.Field); ok {
		return &OptionError{Opt: o, Reason: fe.Reason}
	}
	return &OptionError{Opt: Opt(fe.Field), Reason: fe.Reason}
}

// optionOf finds the option for a FieldError path such as
// "spec.ports[0].container_port": indexes are dropped, then the longest
// known prefix wins.
func optionOf(field string) (Opt, bool) {
	var b strings.Builder
	for i := 0; i < len(field); i++ {
		if field[i] == '[' {
			for i < len(field) && field[i] != ']' {
				i++
			}
			continue
		}
		b.WriteByte(field[i])
	}
	path := b.String()
	for {
		if o, ok := requestFields[path]; ok {
			return o, true
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return "", false
		}
		path = path[:i]
	}
}

// ParseBytes reads a size such as 512m, 1g, 64k or a plain byte count.
func ParseBytes(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("want a size like 512m or 1g")
	}
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
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errors.New("want a size like 512m or 1g")
	}
	return n * mult, nil
}
