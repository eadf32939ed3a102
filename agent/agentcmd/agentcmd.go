// Package agentcmd is labagent's command line: flags, environment variables
// and config file resolve into one server.Config, then the daemon runs until
// SIGTERM or SIGINT.
package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/labfleet/labfleet/agent/agentcheck"
	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/docker"
	"github.com/labfleet/labfleet/agent/nodestats"
	"github.com/labfleet/labfleet/agent/policy"
	"github.com/labfleet/labfleet/agent/server"
	"github.com/labfleet/labfleet/agent/service"
	"github.com/labfleet/labfleet/internal/mariadb"
	"github.com/labfleet/labfleet/internal/version"
)

type options struct {
	configFile string
	srv        server.Config
	nodeName   string
	stateDir   string
	publishIP  string
	dockerHost string
	logFormat  string
	logLevel   string
	dbAddr     string
	dbUser     string
	dbPassFile string
	// Host policy for deploys (agent/policy).
	mountPrefixes []string
	hostNetwork   bool
	// HAProxy agent-check (agent/agentcheck).
	agentCheckListen string
	agentCheckApp    string
}

// Main runs labagent with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd := newCommand()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(stderr, "labagent: %v\n", err)
		if errors.Is(err, server.ErrConfig) || errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func newCommand() *cobra.Command { return newCommandFor(&options{}) }

// newCommandFor is labagent's command with its flags bound into o.
func newCommandFor(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "labagent [flags]",
		Short: "The labfleet node agent: deploys containers and reports the node over gRPC",
		Long: `labagent runs on every node. It serves the labfleet.agent.v1.AgentService gRPC API
(with reflection and grpc.health.v1) to labcontroller, the check_* Nagios plugins and the
Ansible modules.

The agent starts containers, so it is root-equivalent: it refuses to serve plaintext
except on a loopback address, and with TLS it wants client certificates (--tls-client-ca)
or a bearer token (--token-file).

Every RPC is authorized by the caller's role. "monitoring" may call the read-only RPCs
(GetInfo, GetNodeStats, ListApps, GetApp, GetHistory, GetReplicationStatus,
ChecksumTables); "deploy" may call everything. A client certificate's role is written in it
by labcontroller certs init (nagios.crt: monitoring, labcontroller.crt: deploy) or given by
--client-role; --token-file is the deploy token, --monitoring-token-file the monitoring one.
Loopback plaintext callers have the deploy role.

SIGHUP reloads the certificate, key, client CA and token files without a restart: new
connections use the new files, established ones keep working, and a bad file leaves the
old ones in place (the log says why). Keys and tokens readable by every user are refused.

Every flag can also be set as an environment variable LABAGENT_<FLAG> (e.g.
LABAGENT_NODE_NAME) or as a key in the YAML file given by --config (e.g. node-name: node1).
Flags win over the environment, which wins over the file.`,
		Example: `  # mTLS, the way to run it on a real node (labcontroller certs init makes the files)
  labagent --node-name node1 --listen 0.0.0.0:7443 \
    --tls-cert /etc/labfleet/node1.crt --tls-key /etc/labfleet/node1.key \
    --tls-client-ca /etc/labfleet/ca.crt

  # plaintext on loopback, for the one-machine lab
  labagent --node-name node1 --listen 127.0.0.11:7443 --insecure

  # give an older client certificate without a role the monitoring role
  labagent ... --tls-client-ca /etc/labfleet/ca.crt --client-role ops-laptop=monitoring

  # after labcontroller certs renew and copying the new files
  systemctl reload labagent     # or: kill -HUP $(pidof labagent)`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unexpected argument %q: labagent takes flags only", errUsage, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolve(cmd.Flags(), o); err != nil {
				return err
			}
			return run(cmd.Context(), *o, cmd.ErrOrStderr())
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v", errUsage, err) })
	f := cmd.Flags()
	f.StringVar(&o.configFile, "config", "", "YAML file with flag values (keys are flag names)")
	f.StringVar(&o.srv.Listen, "listen", "0.0.0.0:7443", "gRPC listen address HOST:PORT")
	f.StringVar(&o.nodeName, "node-name", "", "this node's name, as in the inventory (default: the hostname)")
	f.StringVar(&o.stateDir, "state-dir", "/var/lib/labagent", "where deploy state and history are kept")
	f.StringVar(&o.srv.TLSCert, "tls-cert", "", "server certificate (PEM)")
	f.StringVar(&o.srv.TLSKey, "tls-key", "", "server private key (PEM)")
	f.StringVar(&o.srv.TLSClientCA, "tls-client-ca", "", "CA that client certificates must chain to (enables mTLS)")
	f.StringToStringVar(&o.srv.ClientRoles, "client-role", nil, "client certificate names and their roles, NAME=ROLE[,NAME=ROLE] (monitoring or deploy); wins over the role in the certificate")
	f.StringVar(&o.srv.TokenFile, "token-file", "", "file holding the bearer token of the deploy role")
	f.StringVar(&o.srv.MonitoringTokenFile, "monitoring-token-file", "", "file holding the bearer token of the monitoring role (read-only RPCs)")
	f.BoolVar(&o.srv.AllowReadableSecrets, "allow-readable-secrets", false, "start even when the key, a token or the MariaDB password file is readable by every user (warns)")
	f.BoolVar(&o.srv.Insecure, "insecure", false, "serve plaintext (only on a loopback --listen address)")
	f.StringVar(&o.publishIP, "publish-ip", "", "address containers publish ports on (default: the --listen IP)")
	f.StringVar(&o.srv.MetricsListen, "metrics-listen", "", "serve Prometheus /metrics on HOST:PORT (off when empty)")
	f.DurationVar(&o.srv.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight RPCs may finish after SIGTERM")
	f.StringVar(&o.dockerHost, "docker-host", "", "Docker Engine address (default: DOCKER_HOST or the local socket)")
	f.StringVar(&o.dbAddr, "mariadb-addr", "", "the node's MariaDB HOST:PORT, for replication (off when empty)")
	f.StringVar(&o.dbUser, "mariadb-user", "root", "MariaDB admin user (needs replication admin privileges and CREATE USER)")
	f.StringVar(&o.dbPassFile, "mariadb-password-file", "", "file holding the MariaDB admin password (or set LABAGENT_MARIADB_PASSWORD)")
	f.StringArrayVar(&o.mountPrefixes, "allow-mount-prefix", nil, "host directory under which deploys may bind-mount (repeatable); none by default, and never /, /etc, the Docker socket or the agent's own state and TLS files")
	f.BoolVar(&o.hostNetwork, "allow-host-network", false, "let deploys use the host's network (network_mode host)")
	f.StringVar(&o.agentCheckListen, "agent-check-listen", "", "answer HAProxy's agent-check on HOST:PORT (off when empty): up only while --agent-check-app is healthy and MariaDB has caught up")
	f.StringVar(&o.agentCheckApp, "agent-check-app", "", "the app whose container the agent-check reports (required with --agent-check-listen)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// resolve fills unset flags from LABAGENT_* variables, then from --config,
// and derives the defaults that depend on other values.
func resolve(fs *pflag.FlagSet, o *options) error {
	var fileVals map[string]any
	cfg := o.configFile
	if v := os.Getenv("LABAGENT_CONFIG"); cfg == "" && v != "" {
		cfg = v
	}
	if cfg != "" {
		b, err := os.ReadFile(cfg)
		if err != nil {
			return fmt.Errorf("%w: cannot read --config: %v", errUsage, err)
		}
		if err := yaml.Unmarshal(b, &fileVals); err != nil {
			return fmt.Errorf("%w: --config %s: %v", errUsage, cfg, err)
		}
	}
	var firstErr error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "config" || firstErr != nil {
			return
		}
		env := "LABAGENT_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		val, src := os.Getenv(env), env
		if val == "" {
			// An empty key (YAML null) gives no value, not "<nil>".
			if v, ok := fileVals[fl.Name]; ok && v != nil {
				val, src = yamlValue(v), cfg+": "+fl.Name
			}
		}
		if val != "" {
			if err := fl.Value.Set(val); err != nil {
				firstErr = fmt.Errorf("%w: %s: %v", errUsage, src, err)
			}
		}
	})
	if firstErr != nil {
		return firstErr
	}
	for k := range fileVals {
		if fs.Lookup(k) == nil || k == "config" {
			return fmt.Errorf("%w: --config %s: unknown key %q (keys are labagent's flag names)", errUsage, cfg, k)
		}
	}
	if o.nodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("cannot get the hostname for --node-name: %w", err)
		}
		o.nodeName = h
	}
	if err := resolveLocalhost(o); err != nil {
		return err
	}
	if o.publishIP == "" {
		o.publishIP = "0.0.0.0"
		if host, _, err := net.SplitHostPort(o.srv.Listen); err == nil && host != "" {
			o.publishIP = host
			if host == "localhost" {
				o.publishIP = "127.0.0.1"
			}
			if net.ParseIP(o.publishIP) == nil {
				return fmt.Errorf("%w: --listen host %q is not an IP address; give --publish-ip, the address containers publish ports on", errUsage, host)
			}
		}
	}
	if net.ParseIP(o.publishIP) == nil {
		return fmt.Errorf("%w: --publish-ip %q is not an IP address", errUsage, o.publishIP)
	}
	return nil
}

// yamlValue turns a --config value into a flag value: a mapping (such as
// client-role: {nagios: monitoring}) becomes NAME=VALUE pairs.
func yamlValue(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprint(v)
	}
	pairs := make([]string, 0, len(m))
	for k, val := range m {
		pairs = append(pairs, k+"="+fmt.Sprint(val))
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

// lookupHost resolves --listen's host name; tests replace it.
var lookupHost = net.LookupHost

// resolveLocalhost turns --listen localhost:PORT into the loopback address
// localhost names here (IPv4 first), so that the agent, its plaintext
// check and the containers' publish IP all see one address. A localhost
// that resolves to no loopback address is refused, with what to give.
func resolveLocalhost(o *options) error {
	host, port, err := net.SplitHostPort(o.srv.Listen)
	if err != nil || !strings.EqualFold(host, "localhost") {
		return nil
	}
	addrs, err := lookupHost(host)
	if err != nil {
		return fmt.Errorf("%w: --listen %s: cannot resolve localhost (%v); give --listen 127.0.0.1:%s", errUsage, o.srv.Listen, err, port)
	}
	var pick string
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil || !ip.IsLoopback() {
			continue
		}
		if ip.To4() != nil {
			pick = a
			break
		}
		if pick == "" {
			pick = a
		}
	}
	if pick == "" {
		return fmt.Errorf("%w: --listen %s: localhost resolves to %s here, not to a loopback address; give --listen 127.0.0.1:%s",
			errUsage, o.srv.Listen, strings.Join(addrs, ", "), port)
	}
	o.srv.Listen = net.JoinHostPort(pick, port)
	return nil
}

// mariadbPassword reads the admin password from --mariadb-password-file or
// LABAGENT_MARIADB_PASSWORD; never from a flag value, which `ps` would show.
// A file every user can read is refused like a key (--allow-readable-secrets).
func mariadbPassword(o options, log *slog.Logger) (string, error) {
	if o.dbPassFile != "" {
		if err := server.CheckSecret("--mariadb-password-file", o.dbPassFile, o.srv.AllowReadableSecrets, log); err != nil {
			return "", err
		}
		b, err := os.ReadFile(o.dbPassFile)
		if err != nil {
			return "", fmt.Errorf("%w: cannot read --mariadb-password-file: %v", errUsage, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return os.Getenv("LABAGENT_MARIADB_PASSWORD"), nil
}

func newLogger(o options, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: use text or json", errUsage, o.logFormat)
}

func run(ctx context.Context, o options, logw io.Writer) error {
	log, err := newLogger(o, logw)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return fmt.Errorf("cannot create --state-dir: %w", err)
	}
	if abs, err := filepath.Abs(o.stateDir); err == nil {
		o.stateDir = abs
	}
	engine, err := docker.New(o.dockerHost)
	if err != nil {
		return err
	}
	defer engine.Close()
	store, err := deploy.OpenStore(filepath.Join(o.stateDir, "deploy"))
	if err != nil {
		return err
	}
	svc := service.New(o.nodeName, o.publishIP, engine, &nodestats.Collector{})
	svc.Deploys = deploy.New(engine, store, o.nodeName, o.publishIP, log)
	svc.Policy = policy.Policy{MountPrefixes: o.mountPrefixes, HostNetwork: o.hostNetwork, Protected: protectedPaths(o)}
	if err := svc.Policy.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if o.dbAddr != "" {
		pw, err := mariadbPassword(o, log)
		if err != nil {
			return err
		}
		m, err := mariadb.Open(o.dbAddr, o.dbUser, pw)
		if err != nil {
			return err
		}
		defer m.Close()
		svc.MariaDB = m
	}
	srv, err := server.New(o.srv, svc, log)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP reloads the TLS files and tokens; registered before the agent
	// listens, so a reload sent right after start cannot kill it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the certificate, key, client CA and token files")
				if err := srv.Reload(); err != nil {
					log.Error("reload failed; still serving with the previous files", "err", err.Error())
				}
			}
		}
	}()
	go svc.Deploys.RepairLoop(ctx, 5*time.Second)
	if o.agentCheckListen != "" {
		if err := serveAgentCheck(ctx, o, svc, log); err != nil {
			return err
		}
	}
	log.Info("labagent starting", "version", version.String(), "node", o.nodeName, "publish_ip", o.publishIP, "state_dir", o.stateDir)
	return srv.Serve(ctx)
}

// protectedPaths are the agent's own files, which no deploy may mount:
// its state directory and the directories of its TLS and token files.
func protectedPaths(o options) []string {
	out := []string{o.stateDir}
	for _, f := range []string{o.srv.TLSCert, o.srv.TLSKey, o.srv.TLSClientCA, o.srv.TokenFile, o.srv.MonitoringTokenFile, o.dbPassFile} {
		if f == "" {
			continue
		}
		if abs, err := filepath.Abs(f); err == nil {
			out = append(out, filepath.Dir(abs))
		}
	}
	return out
}

// serveAgentCheck starts HAProxy's agent-check listener for one app.
func serveAgentCheck(ctx context.Context, o options, svc *service.Service, log *slog.Logger) error {
	if o.agentCheckApp == "" {
		return fmt.Errorf("%w: --agent-check-listen needs --agent-check-app: the app whose container HAProxy sends traffic to", errUsage)
	}
	l, err := net.Listen("tcp", o.agentCheckListen)
	if err != nil {
		return fmt.Errorf("%w: --agent-check-listen %s: %v", errUsage, o.agentCheckListen, err)
	}
	ch := &agentcheck.Checker{App: o.agentCheckApp, Apps: appsOf{svc.Deploys}, Timeout: time.Second}
	if svc.MariaDB != nil {
		ch.DB = svc.MariaDB
	}
	go func() {
		if err := ch.Serve(ctx, l, log); err != nil {
			log.Error("agent-check stopped", "err", err.Error())
		}
	}()
	log.Info("agent-check listening", "addr", l.Addr().String(), "app", o.agentCheckApp)
	return nil
}

// appsOf reports an app's readiness from the deploy engine.
type appsOf struct{ e *deploy.Engine }

func (a appsOf) AppReady(ctx context.Context, app string) (bool, string, error) {
	got, err := a.e.GetApp(ctx, app)
	switch {
	case errors.Is(err, deploy.ErrNotFound):
		return false, "not deployed on this node", nil
	case err != nil:
		return false, "", err
	case got.Container == nil || !got.Container.Running:
		return false, "container not running", nil
	case got.Health == "healthy" || got.Health == "none":
		return true, "", nil
	}
	return false, "container " + got.Health, nil
}
