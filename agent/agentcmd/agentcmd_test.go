package agentcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/server"
	"github.com/labfleet/labfleet/internal/agentclient"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// cleanEnv clears every LABAGENT_* variable labagent reads, so that the
// machine's environment cannot leak into a test.
func cleanEnv(t *testing.T) {
	t.Helper()
	newCommand().Flags().VisitAll(func(fl *pflag.Flag) {
		t.Setenv("LABAGENT_"+strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_")), "")
	})
	t.Setenv("LABAGENT_MARIADB_PASSWORD", "")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noDocker is a Docker host nothing answers on, so no test touches an engine.
func noDocker(t *testing.T) string {
	return "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runMain runs Main, which must return (not serve) within 10 s.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(args, &out, &errb) }()
	select {
	case code = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("labagent %q did not return: it serves", args)
	}
	return code, out.String(), errb.String()
}

func TestMain_RefusesBadConfigurationNamingTheFlag(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	base := []string{"--state-dir", dir, "--docker-host", noDocker(t)}
	shortToken := writeFile(t, "short-token", "tooshort\n")
	readableToken := writeFile(t, "readable-token", "0123456789abcdef-token\n")
	if err := os.Chmod(readableToken, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil, 2, "labagent: usage: unknown flag: --no-such-flag"},
		{"bad duration", []string{"--insecure", "--listen", "127.0.0.1:0", "--shutdown-timeout", "5"}, nil, 2, `invalid argument "5" for "--shutdown-timeout" flag`},
		{"bad bool", []string{"--insecure=maybe"}, nil, 2, `invalid argument "maybe" for "--insecure" flag`},
		{"positional argument", []string{"--insecure", "--listen", "127.0.0.1:0", "serve"}, nil, 2, `usage: unexpected argument "serve"`},
		{"insecure off loopback", []string{"--insecure", "--listen", "0.0.0.0:0"}, nil, 2, "--insecure refused on 0.0.0.0:0: plaintext is only allowed on a loopback address"},
		{"insecure on a LAN address", []string{"--insecure", "--listen", "192.168.6.3:7443"}, nil, 2, "--insecure refused on 192.168.6.3:7443"},
		{"no transport security", []string{"--listen", "127.0.0.1:0"}, nil, 2, "no transport security: give --tls-cert, --tls-key and --tls-client-ca"},
		{"TLS without client auth", []string{"--listen", "127.0.0.1:0", "--tls-cert", "x.crt", "--tls-key", "x.key"}, nil, 2, "--tls-client-ca or --token-file"},
		{"certificate without key", []string{"--listen", "127.0.0.1:0", "--tls-cert", "x.crt", "--tls-client-ca", "ca.crt"}, nil, 2, "--tls-cert and --tls-key go together"},
		{"missing TLS files", []string{"--listen", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "x.crt"), "--tls-key", filepath.Join(dir, "x.key"),
			"--tls-client-ca", filepath.Join(dir, "ca.crt")}, nil, 1, "--tls-cert/--tls-key: cannot read certificate " + filepath.Join(dir, "x.crt")},
		{"bad listen", []string{"--insecure", "--listen", "7443"}, nil, 2, `--listen "7443"`},
		{"bad metrics listen", []string{"--insecure", "--listen", "127.0.0.1:0", "--metrics-listen", "9100"}, nil, 2, `--metrics-listen "9100"`},
		{"short token", []string{"--insecure", "--listen", "127.0.0.1:0", "--token-file", shortToken}, nil, 2, "the token in " + shortToken + " is 8 characters; use at least 16"},
		{"missing token file", []string{"--insecure", "--listen", "127.0.0.1:0", "--token-file", filepath.Join(dir, "nope")}, nil, 1, "cannot read --token-file"},
		{"bad publish IP", []string{"--insecure", "--listen", "127.0.0.1:0", "--publish-ip", "node1"}, nil, 2, `--publish-ip "node1" is not an IP address`},
		{"listen on a name without publish IP", []string{"--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca", "--listen", "node1.lab:7443"}, nil, 2,
			`--listen host "node1.lab" is not an IP address; give --publish-ip`},
		{"bad log level", []string{"--insecure", "--listen", "127.0.0.1:0", "--log-level", "loud"}, nil, 2, `--log-level "loud": use debug, info, warn or error`},
		{"bad log format", []string{"--insecure", "--listen", "127.0.0.1:0", "--log-format", "xml"}, nil, 2, `--log-format "xml": use text or json`},
		{"missing MariaDB password file", []string{"--insecure", "--listen", "127.0.0.1:0", "--mariadb-addr", "127.0.0.1:3306",
			"--mariadb-password-file", filepath.Join(dir, "nope")}, nil, 2, "cannot read --mariadb-password-file"},
		{"unknown client role", []string{"--listen", "127.0.0.1:0", "--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca", "--client-role", "nagios=admin"}, nil, 2,
			`--client-role nagios=admin: unknown role "admin"`},
		{"client role without mTLS", []string{"--insecure", "--listen", "127.0.0.1:0", "--client-role", "nagios=monitoring"}, nil, 2, "--client-role gives client certificates roles; it needs --tls-client-ca"},
		{"world-readable token", []string{"--insecure", "--listen", "127.0.0.1:0", "--token-file", readableToken}, nil, 2,
			"--token-file: secret file readable by other users: " + readableToken + " has mode 0644, so every user on this machine can read it; chmod 600"},
		{"world-readable monitoring token", []string{"--insecure", "--listen", "127.0.0.1:0", "--monitoring-token-file", readableToken}, nil, 2,
			"--monitoring-token-file: secret file readable by other users"},
		{"world-readable MariaDB password", []string{"--insecure", "--listen", "127.0.0.1:0", "--mariadb-addr", "127.0.0.1:3306",
			"--mariadb-password-file", readableToken}, nil, 2, "--mariadb-password-file: secret file readable by other users"},
		{"environment is checked too", nil, map[string]string{"LABAGENT_LISTEN": "0.0.0.0:0", "LABAGENT_INSECURE": "true"}, 2,
			"--insecure refused on 0.0.0.0:0"},
		{"bad environment value names the variable", []string{"--insecure", "--listen", "127.0.0.1:0"},
			map[string]string{"LABAGENT_SHUTDOWN_TIMEOUT": "forever"}, 2, `LABAGENT_SHUTDOWN_TIMEOUT: time: invalid duration "forever"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, _, stderr := runMain(t, append(append([]string{}, base...), c.args...)...)
			if code != c.code || !strings.Contains(stderr, c.want) || !strings.HasPrefix(stderr, "labagent: ") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d with %q", code, stderr, c.code, c.want)
			}
		})
	}
}

func TestMain_ConfigFileErrors(t *testing.T) {
	cleanEnv(t)
	base := []string{"--state-dir", t.TempDir(), "--docker-host", noDocker(t), "--insecure", "--listen", "127.0.0.1:0"}
	cases := []struct {
		name, content, want string
	}{
		{"unknown key", "node-name: x\nlisten-adress: 127.0.0.1:1\n", `unknown key "listen-adress" (keys are labagent's flag names)`},
		{"config key", "config: other.yaml\n", `unknown key "config"`},
		{"not YAML", "node-name: [unclosed\n", "--config "},
		{"bad value", "shutdown-timeout: 10\n", `agent.yaml: shutdown-timeout: time: missing unit in duration "10"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := writeFile(t, "agent.yaml", c.content)
			code, _, stderr := runMain(t, append([]string{"--config", cfg}, base...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 with %q", code, stderr, c.want)
			}
		})
	}
	code, _, stderr := runMain(t, append([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, base...)...)
	if code != 2 || !strings.Contains(stderr, "cannot read --config") {
		t.Fatalf("missing config: exit %d, %s", code, stderr)
	}
	// LABAGENT_CONFIG names the file when --config does not.
	t.Setenv("LABAGENT_CONFIG", writeFile(t, "env.yaml", "bogus: 1\n"))
	if code, _, stderr := runMain(t, base...); code != 2 || !strings.Contains(stderr, `unknown key "bogus"`) {
		t.Fatalf("LABAGENT_CONFIG: exit %d, %s", code, stderr)
	}
}

func TestMain_HelpAndVersion(t *testing.T) {
	cleanEnv(t)
	code, stdout, _ := runMain(t, "--help")
	if code != 0 || !strings.Contains(stdout, "--tls-client-ca") || !strings.Contains(stdout, "LABAGENT_<FLAG>") {
		t.Fatalf("--help: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runMain(t, "--version")
	if code != 0 || !strings.HasPrefix(stdout, "labagent version ") {
		t.Fatalf("--version: exit %d\n%s", code, stdout)
	}
}

func TestMariadbPassword(t *testing.T) {
	cleanEnv(t)
	file := writeFile(t, "pw", "s3cret pass\r\n")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pw, err := mariadbPassword(options{dbPassFile: file}, log)
	if err != nil || pw != "s3cret pass" {
		t.Fatalf("from file = %q, %v; want the line without its line ending", pw, err)
	}
	t.Setenv("LABAGENT_MARIADB_PASSWORD", "from-env")
	if pw, err := mariadbPassword(options{dbPassFile: file}, log); err != nil || pw != "s3cret pass" {
		t.Errorf("file and environment = %q, %v; want the file", pw, err)
	}
	if pw, err := mariadbPassword(options{}, log); err != nil || pw != "from-env" {
		t.Errorf("environment only = %q, %v", pw, err)
	}
	if _, err := mariadbPassword(options{dbPassFile: filepath.Join(t.TempDir(), "nope")}, log); err == nil ||
		!strings.Contains(err.Error(), "--mariadb-password-file") {
		t.Errorf("missing file = %v", err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := mariadbPassword(options{dbPassFile: file}, log); !errors.Is(err, server.ErrConfig) || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable file = %v, want it refused", err)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(options{logFormat: "json", logLevel: "WARN"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", "v")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["k"] != "v" || strings.Contains(buf.String(), "hidden") {
		t.Fatalf("json logger at warn wrote %q (%v)", buf.String(), err)
	}
	buf.Reset()
	log, err = newLogger(options{logFormat: "text", logLevel: "debug"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("detail")
	if !strings.Contains(buf.String(), "level=DEBUG msg=detail") {
		t.Fatalf("text logger at debug wrote %q", buf.String())
	}
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug not enabled")
	}
}

// syncBuffer is a bytes.Buffer the agent's logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listeningAddr finds the address in the text or JSON log record.
var listeningAddr = regexp.MustCompile(`agent listening"?[ ,]"?addr"?[=:]"?([^ ",]+)`)

// agent is labagent serving in this process.
type agent struct {
	addr string
	log  *syncBuffer
	stop func() error // cancels the command's context and returns its error
}

// serve runs labagent's command with args until the test ends or stop is
// called, and returns once it listens.
func serve(t *testing.T, args ...string) *agent {
	t.Helper()
	cmd := newCommand()
	cmd.SetArgs(args)
	log := &syncBuffer{}
	cmd.SetOut(log)
	cmd.SetErr(log)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var runErr error
	go func() {
		defer close(exited)
		runErr = cmd.ExecuteContext(ctx)
	}()
	a := &agent{log: log, stop: func() error {
		cancel()
		select {
		case <-exited:
			return runErr
		case <-time.After(15 * time.Second):
			t.Errorf("labagent did not stop within 15s of its context ending")
			return nil
		}
	}}
	t.Cleanup(func() { _ = a.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listeningAddr.FindStringSubmatch(log.String()); m != nil {
			a.addr = m[1]
			return a
		}
		select {
		case <-exited:
			t.Fatalf("labagent %q exited: %v\n%s", args, runErr, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("labagent %q did not listen within 10s:\n%s", args, log.String())
		}
	}
}

func (a *agent) info(t *testing.T, token string) (*agentv1.GetInfoResponse, error) {
	t.Helper()
	o := agentclient.Options{Addr: a.addr, Insecure: true}
	if token != "" {
		o.TokenFile = writeFile(t, "token", token)
	}
	c, err := agentclient.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
}

func TestServe_InsecureLoopbackWiresTheFlags(t *testing.T) {
	cleanEnv(t)
	t.Setenv("LABAGENT_MARIADB_PASSWORD", "from-env")
	state := filepath.Join(t.TempDir(), "state")
	docker, db := noDocker(t), closedAddr(t)
	a := serve(t, "--listen", "127.0.0.1:0", "--insecure", "--node-name", "node7", "--state-dir", state,
		"--docker-host", docker, "--mariadb-addr", db, "--log-format", "json", "--shutdown-timeout", "2s")
	info, err := a.info(t, "")
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	// The publish IP defaults to the --listen IP.
	if info.GetNodeName() != "node7" || info.GetPublishIp() != "127.0.0.1" || info.GetCaller() != "loopback" {
		t.Errorf("GetInfo: node %q publish IP %q caller %q", info.GetNodeName(), info.GetPublishIp(), info.GetCaller())
	}
	if d := info.GetDocker(); d.GetReachable() || !strings.Contains(d.GetError(), strings.TrimPrefix(docker, "unix://")) {
		t.Errorf("Docker %+v: want unreachable, naming %s", d, docker)
	}
	if m := info.GetMariadb(); !m.GetConfigured() || m.GetAddress() != db || m.GetError() == "" {
		t.Errorf("MariaDB %+v: want configured at %s and unreachable", m, db)
	}
	if _, err := os.Stat(filepath.Join(state, "deploy", "key")); err != nil {
		t.Errorf("the deploy state was not created in --state-dir: %v", err)
	}
	var sawListening bool
	for _, line := range strings.Split(strings.TrimSpace(a.log.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("--log-format json wrote a non-JSON line %q", line)
			continue
		}
		if rec["msg"] == "agent listening" && rec["security"] == "insecure-loopback" {
			sawListening = true
		}
	}
	if !sawListening {
		t.Errorf("no 'agent listening' record with security insecure-loopback:\n%s", a.log.String())
	}
	if err := a.stop(); err != nil {
		t.Errorf("labagent stopped with %v, want a clean stop", err)
	}
	if _, err := a.info(t, ""); status.Code(err) != codes.Unavailable {
		t.Errorf("GetInfo after stop = %v; want Unavailable", err)
	}
}

func TestServe_TokenAndPrecedence(t *testing.T) {
	cleanEnv(t)
	const token = "0123456789abcdef-token"
	tok := writeFile(t, "token", token+"\n")
	// The file sets the token and a node name; the environment overrides the name.
	cfg := writeFile(t, "agent.yaml", "node-name: from-file\ntoken-file: "+tok+"\ninsecure: true\nlisten: 127.0.0.1:0\nlog-format: json\n")
	t.Setenv("LABAGENT_NODE_NAME", "from-env")
	args := []string{"--config", cfg, "--state-dir", t.TempDir(), "--docker-host", noDocker(t)}
	a := serve(t, args...)
	if _, err := a.info(t, ""); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetInfo without the token = %v; want Unauthenticated", err)
	}
	if _, err := a.info(t, "0123456789abcdef-wrong"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetInfo with a wrong token = %v; want Unauthenticated", err)
	}
	info, err := a.info(t, token)
	if err != nil {
		t.Fatalf("GetInfo with the token: %v", err)
	}
	if info.GetNodeName() != "from-env" || !strings.Contains(info.GetCaller(), "token") {
		t.Errorf("node %q caller %q; want the environment's name and the token caller", info.GetNodeName(), info.GetCaller())
	}
	if !strings.Contains(a.log.String(), `"security":"insecure-loopback+token"`) {
		t.Errorf("log should be JSON (the file's log-format) and show the token mode:\n%s", a.log.String())
	}
	a.stop()

	// A flag wins over both.
	a = serve(t, append(args, "--node-name", "from-flag", "--publish-ip", "127.0.0.5")...)
	info, err = a.info(t, token)
	if err != nil || info.GetNodeName() != "from-flag" || info.GetPublishIp() != "127.0.0.5" {
		t.Fatalf("GetInfo = %v, %v; want from-flag with publish IP 127.0.0.5", info, err)
	}
}

func TestServe_DefaultsFilledSensibly(t *testing.T) {
	cleanEnv(t)
	host, err := os.Hostname()
	if err != nil {
		t.Skipf("no hostname: %v", err)
	}
	// An empty key in the file is no value; localhost publishes on 127.0.0.1.
	cfg := writeFile(t, "agent.yaml", "node-name:\n")
	a := serve(t, "--config", cfg, "--listen", "localhost:0", "--insecure", "--state-dir", t.TempDir(), "--docker-host", noDocker(t))
	info, err := a.info(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.GetNodeName() != host || info.GetPublishIp() != "127.0.0.1" {
		t.Errorf("node %q publish IP %q; want the hostname %q and 127.0.0.1", info.GetNodeName(), info.GetPublishIp(), host)
	}
}

func TestResolveLocalhost(t *testing.T) {
	cases := []struct {
		name    string
		addrs   []string
		lookErr error
		listen  string // "" = an error
		want    string
	}{
		{"IPv4 first", []string{"::1", "127.0.0.1"}, nil, "127.0.0.1:7443", ""},
		{"IPv6 only", []string{"::1"}, nil, "[::1]:7443", ""},
		{"resolves elsewhere", []string{"10.0.0.5"}, nil, "", "localhost resolves to 10.0.0.5 here, not to a loopback address; give --listen 127.0.0.1:7443"},
		{"does not resolve", nil, errors.New("no such host"), "", "cannot resolve localhost (no such host); give --listen 127.0.0.1:7443"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func(f func(string) ([]string, error)) { lookupHost = f }(lookupHost)
			lookupHost = func(string) ([]string, error) { return c.addrs, c.lookErr }
			o := options{}
			o.srv.Listen = "localhost:7443"
			err := resolveLocalhost(&o)
			if c.listen != "" {
				if err != nil || o.srv.Listen != c.listen {
					t.Fatalf("listen = %q, %v; want %q", o.srv.Listen, err, c.listen)
				}
				return
			}
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	o := options{}
	o.srv.Listen = "127.0.0.5:7443"
	if err := resolveLocalhost(&o); err != nil || o.srv.Listen != "127.0.0.5:7443" {
		t.Errorf("an IP address was changed: %q, %v", o.srv.Listen, err)
	}
}

func TestResolve_ClientRolesFromFlagEnvironmentAndFile(t *testing.T) {
	cleanEnv(t)
	parse := func(t *testing.T, args ...string) options {
		t.Helper()
		var o options
		cmd := newCommandFor(&o)
		if err := cmd.Flags().Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := resolve(cmd.Flags(), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	want := map[string]string{"nagios": "monitoring", "ops": "deploy"}
	if o := parse(t, "--client-role", "nagios=monitoring,ops=deploy"); fmt.Sprint(o.srv.ClientRoles) != fmt.Sprint(want) {
		t.Errorf("flag: %v", o.srv.ClientRoles)
	}
	cfg := writeFile(t, "agent.yaml", "client-role:\n  ops: deploy\n  nagios: monitoring\n")
	if o := parse(t, "--config", cfg); fmt.Sprint(o.srv.ClientRoles) != fmt.Sprint(want) {
		t.Errorf("YAML mapping: %v", o.srv.ClientRoles)
	}
	t.Setenv("LABAGENT_CLIENT_ROLE", "nagios=monitoring,ops=deploy")
	if o := parse(t); fmt.Sprint(o.srv.ClientRoles) != fmt.Sprint(want) {
		t.Errorf("environment: %v", o.srv.ClientRoles)
	}
}

func TestServe_MonitoringTokenReadsButCannotDeploy(t *testing.T) {
	cleanEnv(t)
	deployTok, monTok := "0123456789abcdef-deploy", "0123456789abcdef-monitor"
	a := serve(t, "--listen", "127.0.0.1:0", "--insecure", "--state-dir", t.TempDir(), "--docker-host", noDocker(t),
		"--token-file", writeFile(t, "deploy", deployTok), "--monitoring-token-file", writeFile(t, "monitoring", monTok))
	info, err := a.info(t, monTok)
	if err != nil || info.GetCaller() != "monitoring-token" {
		t.Fatalf("GetInfo with the monitoring token = %v, %v", info, err)
	}
	c, err := agentclient.Dial(agentclient.Options{Addr: a.addr, Insecure: true, TokenFile: writeFile(t, "t", monTok)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stream, err := c.Agent.Rollback(context.Background(), &agentv1.RollbackRequest{App: "todo"})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "Rollback needs the deploy role; this caller (monitoring-token) has monitoring") {
		t.Fatalf("Rollback with the monitoring token = %v", err)
	}
	if !strings.Contains(a.log.String(), "security=insecure-loopback+token+monitoring-token") {
		t.Errorf("the security mode does not show both tokens:\n%s", a.log.String())
	}
}
