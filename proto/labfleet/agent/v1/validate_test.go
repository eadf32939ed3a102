package agentv1

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"
)

func TestDeployRequestValidate(t *testing.T) {
	ok := func() *DeployRequest {
		return &DeployRequest{App: "todo", Image: "127.0.0.1:5000/todo:v2", Spec: &ContainerSpec{
			Ports: []*PortMapping{{HostPort: 8000, ContainerPort: 8000}}, Env: map[string]string{"A": "1"}, SecretEnv: map[string]string{"PW": "x"},
		}, Health: &HealthCheck{HttpPath: "/healthz"}}
	}
	if err := ok().Validate(); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	cases := []struct {
		field string
		mut   func(r *DeployRequest)
	}{
		{"app", func(r *DeployRequest) { r.App = "" }},
		{"app", func(r *DeployRequest) { r.App = "To_Do" }},
		{"image", func(r *DeployRequest) { r.Image = "" }},
		{"image", func(r *DeployRequest) { r.Image = "a b" }},
		{"deploy_id", func(r *DeployRequest) { r.DeployId = "-bad id" }},
		{"spec.ports[0].container_port", func(r *DeployRequest) { r.Spec.Ports[0].ContainerPort = 0 }},
		{"spec.ports[0].host_port", func(r *DeployRequest) { r.Spec.Ports[0].HostPort = 70000 }},
		{"spec.ports[0].protocol", func(r *DeployRequest) { r.Spec.Ports[0].Protocol = "sctp" }},
		{"spec.env", func(r *DeployRequest) { r.Spec.Env["1BAD"] = "x" }},
		{"spec.secret_env", func(r *DeployRequest) { r.Spec.SecretEnv["A"] = "dup" }},
		{"spec.restart_policy", func(r *DeployRequest) { r.Spec.RestartPolicy = "sometimes" }},
		{"spec.mounts[0].target", func(r *DeployRequest) { r.Spec.Mounts = []*Mount{{Source: "/data", Target: "rel"}} }},
		{"spec.mounts[0].source", func(r *DeployRequest) { r.Spec.Mounts = []*Mount{{Source: "rel", Target: "/data"}} }},
		{"spec.memory_bytes", func(r *DeployRequest) { r.Spec.MemoryBytes = 1024 }},
		{"spec.cpus", func(r *DeployRequest) { r.Spec.Cpus = -1 }},
		{"health.http_path", func(r *DeployRequest) { r.Health.HttpPath = "healthz" }},
		{"health.http_path", func(r *DeployRequest) { r.Health = &HealthCheck{Type: HealthCheckType_HEALTH_CHECK_TYPE_HTTP} }},
		{"health.timeout", func(r *DeployRequest) { r.Health.Timeout = durationpb.New(-1) }},
		{"registry_auth.password", func(r *DeployRequest) { r.RegistryAuth = &RegistryAuth{Username: "ci"} }},
	}
	for _, c := range cases {
		r := ok()
		c.mut(r)
		err := r.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "invalid "+c.field+":") {
			t.Errorf("%s: got %v", c.field, err)
		}
	}
	if err := (&DeployRequest{App: "todo", Image: "x:1", Spec: &ContainerSpec{RestartPolicy: "on-failure:3"}}).Validate(); err != nil {
		t.Errorf("on-failure:3 refused: %v", err)
	}
}

func TestReplicationRequestValidate(t *testing.T) {
	r := &ConfigureReplicationRequest{Settings: &ServerSettings{AutoIncrementIncrement: 2, AutoIncrementOffset: 3}}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "auto_increment_offset") {
		t.Errorf("offset > increment: %v", err)
	}
	r = &ConfigureReplicationRequest{Sources: []*ReplicationSource{{ConnectionName: "node2", Host: "h", Port: 3306, User: "repl"}, {ConnectionName: "node2", Host: "h", Port: 3306, User: "repl"}}}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate connection: %v", err)
	}
}
