package modules

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/deployreq"
)

// TestDeployOptions_CoverEveryDeployOption gives labfleet_deploy every
// option and checks that every field of deployreq.Options is filled: an
// option added to deployreq without one here fails, as the same test of
// labcontroller's flags does for the CLI.
func TestDeployOptions_CoverEveryDeployOption(t *testing.T) {
	m := Lookup("labfleet_deploy")
	names := map[string]bool{}
	for _, o := range m.Options {
		names[o.Name] = true
	}
	for _, o := range deployreq.AllOpts {
		name, ok := deploySpelling[o]
		if !ok {
			t.Errorf("deploy option %q has no labfleet_deploy option in deploySpelling", o)
			continue
		}
		if !names[name] {
			t.Errorf("deploySpelling names %q for %q, which labfleet_deploy does not take", name, o)
		}
	}
	raw := map[string]any{
		"app": "todo", "image": "registry.example:5000/todo:v2", "version": "v2", "deploy_id": "20261202T184437Z-3fa2c01b",
		"ports": []any{"0:8000"}, "env": map[string]any{"DB_HOST": "127.0.0.1"}, "secret_env": map[string]any{"DB_PASSWORD": "s3cret-value"},
		"labels": map[string]any{"team": "ops"}, "volumes": []any{"/srv/todo:/data:ro"}, "command": []any{"serve"}, "entrypoint": []any{"/todo"},
		"network": "bridge", "restart": "always", "user": "1000", "workdir": "/data", "memory": "256m", "cpus": "0.5", "stop_timeout": "20s",
		"health": "http", "health_path": "/healthz", "health_port": json.Number("8000"), "health_timeout": json.Number("30"), "health_interval": "2s",
		"pull": "always", "strategy": "start_first", "registry": "registry.example:5000", "registry_user": "ci", "registry_password": "registry-token",
	}
	p, err := parseParams(m, raw)
	if err != nil {
		t.Fatal(err)
	}
	o := deployOptions(p)
	v := reflect.ValueOf(o)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("Options.%s is not set by any labfleet_deploy option", v.Type().Field(i).Name)
		}
	}
	want := deployreq.Options{
		App: "todo", Image: "registry.example:5000/todo:v2", Version: "v2", DeployID: "20261202T184437Z-3fa2c01b",
		Ports: []string{"0:8000"}, Env: map[string]string{"DB_HOST": "127.0.0.1"}, SecretEnv: map[string]string{"DB_PASSWORD": "s3cret-value"},
		Labels: map[string]string{"team": "ops"}, Volumes: []string{"/srv/todo:/data:ro"}, Command: []string{"serve"}, Entrypoint: []string{"/todo"},
		Network: "bridge", Restart: "always", User: "1000", Workdir: "/data", Memory: "256m", CPUs: 0.5, StopTimeout: 20 * time.Second,
		Health: "http", HealthPath: "/healthz", HealthPort: 8000, HealthTimeout: 30 * time.Second, HealthInterval: 2 * time.Second,
		Pull: "always", Strategy: "start_first", Registry: "registry.example:5000", RegistryUser: "ci", RegistryPassword: "registry-token",
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("options =\n%+v\nwant\n%+v", o, want)
	}
	if _, err := deployRequest(p); err != nil {
		t.Fatal(err)
	}
}

func TestDeployRequest_ErrorsNameTheTaskOption(t *testing.T) {
	m := Lookup("labfleet_deploy")
	for name, tt := range map[string]struct {
		raw  map[string]any
		want string
	}{
		"bad port":        {map[string]any{"ports": []any{"80:http"}}, `ports "80:http": `},
		"bad memory":      {map[string]any{"memory": "lots"}, `memory "lots": want a size like 512m or 1g`},
		"bad health path": {map[string]any{"health_path": "healthz"}, `health_path "healthz" must start with '/'`},
		"bad stop":        {map[string]any{"stop_timeout": "2h"}, "stop_timeout 2h0m0s must be between 0 and 1h"},
		"user only":       {map[string]any{"registry_user": "ci"}, "registry_user needs registry_password"},
		"start_first on a fixed port": {map[string]any{"strategy": "start_first", "ports": []any{"8000:8000"}},
			`strategy "start_first": runs the old and new containers side by side, but host port 8000 is fixed`},
	} {
		t.Run(name, func(t *testing.T) {
			raw := map[string]any{"app": "todo", "image": "todo:v2"}
			for k, v := range tt.raw {
				raw[k] = v
			}
			p, err := parseParams(m, raw)
			if err != nil {
				t.Fatal(err)
			}
			_, err = deployRequest(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("the task's error names a command-line flag: %q", err)
			}
		})
	}
}
