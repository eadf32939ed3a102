package cli

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/labfleet/labfleet/internal/deployreq"
)

// TestDeployFlags_CoverEveryDeployOption sets every deploy flag and checks
// that every field of deployreq.Options is filled: an option added to
// deployreq without a flag here (or a flag not wired into Options) fails.
// labfleet_deploy's test does the same for the Ansible options.
func TestDeployFlags_CoverEveryDeployOption(t *testing.T) {
	for _, o := range deployreq.AllOpts {
		if _, ok := cliSpelling[o]; !ok {
			t.Errorf("deploy option %q has no flag in cliSpelling", o)
		}
	}
	f := &deployFlags{}
	fs := pflag.NewFlagSet("deploy", pflag.ContinueOnError)
	f.bind(fs)
	for o, name := range cliSpelling {
		if o == deployreq.OptCommand {
			continue // the arguments after --
		}
		if fs.Lookup(strings.TrimPrefix(name, "--")) == nil {
			t.Errorf("cliSpelling names %s for %q, which is not a flag of deploy", name, o)
		}
	}

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "registry.pass")
	if err := os.WriteFile(pwFile, []byte("registry-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DB_PASSWORD", "s3cret-value")
	args := []string{
		"--app", "todo", "--image", "registry.example:5000/todo:v2", "--version", "v2", "--deploy-id", "20261202T184437Z-3fa2c01b",
		"--port", "0:8000", "--env", "DB_HOST=127.0.0.1", "--secret-env", "DB_PASSWORD", "--label", "team=ops",
		"--volume", "/srv/todo:/data:ro", "--entrypoint", "/todo", "--network", "bridge", "--restart", "always",
		"--user", "1000", "--workdir", "/data", "--memory", "256m", "--cpus", "0.5", "--stop-timeout", "20s",
		"--health", "http", "--health-path", "/healthz", "--health-port", "8000", "--timeout", "30s", "--health-interval", "2s",
		"--pull", "always", "--strategy", "start-first", "--registry", "registry.example:5000",
		"--registry-user", "ci", "--registry-password-file", pwFile,
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	o, err := f.options([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(o)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("Options.%s is not set by any deploy flag", v.Type().Field(i).Name)
		}
	}
	want := deployreq.Options{
		App: "todo", Image: "registry.example:5000/todo:v2", Version: "v2", DeployID: "20261202T184437Z-3fa2c01b",
		Ports: []string{"0:8000"}, Env: map[string]string{"DB_HOST": "127.0.0.1"}, SecretEnv: map[string]string{"DB_PASSWORD": "s3cret-value"},
		Labels: map[string]string{"team": "ops"}, Volumes: []string{"/srv/todo:/data:ro"}, Command: []string{"serve"}, Entrypoint: []string{"/todo"},
		Network: "bridge", Restart: "always", User: "1000", Workdir: "/data", Memory: "256m", CPUs: 0.5, StopTimeout: o.StopTimeout,
		Health: "http", HealthPath: "/healthz", HealthPort: 8000, HealthTimeout: o.HealthTimeout, HealthInterval: o.HealthInterval,
		Pull: "always", Strategy: "start-first", Registry: "registry.example:5000", RegistryUser: "ci", RegistryPassword: "registry-token",
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("options =\n%+v\nwant\n%+v", o, want)
	}
	if o.StopTimeout.Seconds() != 20 || o.HealthTimeout.Seconds() != 30 || o.HealthInterval.Seconds() != 2 {
		t.Errorf("durations: stop %v, health timeout %v, interval %v", o.StopTimeout, o.HealthTimeout, o.HealthInterval)
	}
	if _, secrets, err := f.request([]string{"serve"}); err != nil || len(secrets) != 2 {
		t.Fatalf("request: secrets %d, err %v", len(secrets), err)
	}
}

func TestDeployFlags_ErrorsNameTheFlag(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"bad port":        {[]string{"--port", "80:http"}, `--port "80:http": `},
		"bad env key":     {[]string{"--env", "1BAD=x"}, `--env key "1BAD" is not a valid variable name`},
		"bad restart":     {[]string{"--restart", "sometimes"}, `--restart "sometimes" must be`},
		"bad memory":      {[]string{"--memory", "lots"}, `--memory "lots": want a size like 512m or 1g`},
		"bad health path": {[]string{"--health-path", "healthz"}, `--health-path "healthz" must start with '/'`},
		"bad health":      {[]string{"--health", "tcp"}, `--health "tcp": use auto, http, docker or none`},
		"env without =":   {[]string{"--env", "DB_HOST"}, `--env "DB_HOST": want KEY=VALUE`},
		"literal secret":  {[]string{"--secret-env", "DB_PASSWORD=hunter2"}, "shows in `ps` and shell history"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := &deployFlags{}
			fs := pflag.NewFlagSet("deploy", pflag.ContinueOnError)
			f.bind(fs)
			if err := fs.Parse(append([]string{"--app", "todo", "--image", "todo:v2"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.request(nil)
			var ue *usageError
			if err == nil || !errors.As(err, &ue) {
				t.Fatalf("err = %v (%T), want a usage error", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the secret: %q", err)
			}
		})
	}
}
