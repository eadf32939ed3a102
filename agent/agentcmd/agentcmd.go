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
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/docker"
	"github.com/labfleet/labfleet/agent/nodestats"
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

func newCommand() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "labagent [flags]",
		Short: "The labfleet node agent: deploys containers and reports the node over gRPC",
		Long: `labagent runs on every node. It serves the labfleet.agent.v1.AgentService gRPC API
(with reflection and grpc.health.v1) to labcontroller, the check_* Nagios plugins and the
Ansible modules.

The agent starts containers, so it is root-equivalent: it refuses to serve plaintext
except on a loopback address, and with TLS it wants client certificates (--tls-client-ca)
or a bearer token (--token-file).

Every flag can also be set as an environment variable LABAGENT_<FLAG> (e.g.
LABAGENT_NODE_NAME) or as a key in the YAML file given by --config (e.g. node-name: node1).
Flags win over the environment, which wins over the file.`,
		Example: `  # mTLS, the way to run it on a real node (labcontroller certs init makes the files)
  labagent --node-name node1 --listen 0.0.0.0:7443 \
    --tls-cert /etc/labfleet/node1.crt --tls-key /etc/labfleet/node1.key \
    --tls-client-ca /etc/labfleet/ca.crt

  # plaintext on loopback, for the one-machine lab
  labagent --node-name node1 --listen 127.0.0.11:7443 --insecure`,
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
			if err := resolve(cmd.Flags(), &o); err != nil {
				return err
			}
			return run(cmd.Context(), o, cmd.ErrOrStderr())
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
	f.StringVar(&o.srv.TokenFile, "token-file", "", "file holding the bearer token callers must send")
	f.BoolVar(&o.srv.Insecure, "insecure", false, "serve plaintext (only on a loopback --listen address)")
	f.StringVar(&o.publishIP, "publish-ip", "", "address containers publish ports on (default: the --listen IP)")
	f.StringVar(&o.srv.MetricsListen, "metrics-listen", "", "serve Prometheus /metrics on HOST:PORT (off when empty)")
	f.DurationVar(&o.srv.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight RPCs may finish after SIGTERM")
	f.StringVar(&o.dockerHost, "docker-host", "", "Docker Engine address (default: DOCKER_HOST or the local socket)")
	f.StringVar(&o.dbAddr, "mariadb-addr", "", "the node's MariaDB HOST:PORT, for replication (off when empty)")
	f.StringVar(&o.dbUser, "mariadb-user", "root", "MariaDB admin user (needs replication admin privileges and CREATE USER)")
	f.StringVar(&o.dbPassFile, "mariadb-password-file", "", "file holding the MariaDB admin password (or set LABAGENT_MARIADB_PASSWORD)")
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
				val, src = fmt.Sprint(v), cfg+": "+fl.Name
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

// mariadbPassword reads the admin password from --mariadb-password-file or
// LABAGENT_MARIADB_PASSWORD; never from a flag value, which `ps` would show.
func mariadbPassword(o options) (string, error) {
	if o.dbPassFile != "" {
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
	if o.dbAddr != "" {
		pw, err := mariadbPassword(o)
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
	go svc.Deploys.RepairLoop(ctx, 5*time.Second)
	log.Info("labagent starting", "version", version.String(), "node", o.nodeName, "publish_ip", o.publishIP, "state_dir", o.stateDir)
	return srv.Serve(ctx)
}
