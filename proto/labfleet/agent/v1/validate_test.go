package agentv1

import (
	"math"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func validDeploy() *DeployRequest {
	return &DeployRequest{App: "todo", Image: "127.0.0.1:5000/todo:v2", Version: "v2", Spec: &ContainerSpec{
		Ports: []*PortMapping{{HostPort: 8000, ContainerPort: 8000}}, Env: map[string]string{"A": "1"}, SecretEnv: map[string]string{"PW": "x"},
		Labels: map[string]string{"team": "ops"}, Mounts: []*Mount{{Source: "/srv/labfleet/todo", Target: "/data"}, {Source: "cache", Target: "/cache", Type: MountType_MOUNT_TYPE_VOLUME}},
		Cpus: 0.5, Workdir: "/app",
	}, Health: &HealthCheck{HttpPath: "/healthz"}}
}

func TestDeployRequestValidate_Accepts(t *testing.T) {
	cases := map[string]func(r *DeployRequest){
		"as is":                    func(*DeployRequest) {},
		"a digest":                 func(r *DeployRequest) { r.Image = "todo@" + digest },
		"tag and digest":           func(r *DeployRequest) { r.Image = "registry.example:5000/team/todo:v2@" + digest },
		"no tag":                   func(r *DeployRequest) { r.Image = "todo" },
		"localhost registry":       func(r *DeployRequest) { r.Image = "localhost/todo:1.0.0-rc_1" },
		"upper-case tag":           func(r *DeployRequest) { r.Image = "todo:V2" },
		"the smallest CPU limit":   func(r *DeployRequest) { r.Spec.Cpus = 0.01 },
		"no CPU limit":             func(r *DeployRequest) { r.Spec.Cpus = 0 },
		"the largest CPU limit":    func(r *DeployRequest) { r.Spec.Cpus = 1024 },
		"a semver version":         func(r *DeployRequest) { r.Version = "v1.2.3+build.7" },
		"a unicode version":        func(r *DeployRequest) { r.Version = "été-2026" },
		"host network (policy's)":  func(r *DeployRequest) { r.Spec.NetworkMode = "host" },
		"a user network":           func(r *DeployRequest) { r.Spec.NetworkMode = "backend_net-1" },
		"another container's":      func(r *DeployRequest) { r.Spec.NetworkMode = "container:node1-web-0a1b2c3d" },
		"a label value with space": func(r *DeployRequest) { r.Spec.Labels["owner"] = "Team Ops" },
		"a multi-line command":     func(r *DeployRequest) { r.Spec.Command = []string{"sh", "-c", "echo a\necho b"} },
		"a multi-line env value":   func(r *DeployRequest) { r.Spec.Env["CERT"] = "-----BEGIN\nabc\n-----END" },
		"on-failure:3":             func(r *DeployRequest) { r.Spec.RestartPolicy = "on-failure:3" },
		"user uid:gid":             func(r *DeployRequest) { r.Spec.User = "1000:1000" },
	}
	for name, mut := range cases {
		r := validDeploy()
		mut(r)
		if err := r.Validate(); err != nil {
			t.Errorf("%s: a valid request was refused: %v", name, err)
		}
	}
}

func TestDeployRequestValidate_Refuses(t *testing.T) {
	cases := []struct {
		field string
		mut   func(r *DeployRequest)
	}{
		{"app", func(r *DeployRequest) { r.App = "" }},
		{"app", func(r *DeployRequest) { r.App = "To_Do" }},
		{"app", func(r *DeployRequest) { r.App = "todo\n" }},
		{"app", func(r *DeployRequest) { r.App = "to\x00do" }},
		{"image", func(r *DeployRequest) { r.Image = "" }},
		{"image", func(r *DeployRequest) { r.Image = "a b" }},
		{"image", func(r *DeployRequest) { r.Image = "Todo:v1" }},
		{"image", func(r *DeployRequest) { r.Image = "todo:v1:v2" }},
		{"image", func(r *DeployRequest) { r.Image = "todo:" }},
		{"image", func(r *DeployRequest) { r.Image = "-todo" }},
		{"image", func(r *DeployRequest) { r.Image = "todo@sha256:abc" }},
		{"image", func(r *DeployRequest) { r.Image = "todo:v1\x1b[2J" }},
		{"image", func(r *DeployRequest) { r.Image = strings.Repeat("ab", 32) }}, // an image ID, not a name
		{"image", func(r *DeployRequest) { r.Image = "todo:" + strings.Repeat("v", 129) }},
		{"deploy_id", func(r *DeployRequest) { r.DeployId = "-bad id" }},
		{"version", func(r *DeployRequest) { r.Version = "v 2" }},
		{"version", func(r *DeployRequest) { r.Version = "v2\x1b[31m" }},
		{"version", func(r *DeployRequest) { r.Version = "v2\x00" }},
		{"version", func(r *DeployRequest) { r.Version = "v2\u0085" }},
		{"version", func(r *DeployRequest) { r.Version = "v2\xff" }},
		{"spec.ports[0].container_port", func(r *DeployRequest) { r.Spec.Ports[0].ContainerPort = 0 }},
		{"spec.ports[0].host_port", func(r *DeployRequest) { r.Spec.Ports[0].HostPort = 70000 }},
		{"spec.ports[0].protocol", func(r *DeployRequest) { r.Spec.Ports[0].Protocol = "sctp" }},
		{"spec.env", func(r *DeployRequest) { r.Spec.Env["1BAD"] = "x" }},
		{"spec.env", func(r *DeployRequest) { r.Spec.Env["BAD\x07"] = "x" }},
		{"spec.env", func(r *DeployRequest) { r.Spec.Env["NUL"] = "a\x00b" }},
		{"spec.secret_env", func(r *DeployRequest) { r.Spec.SecretEnv["A"] = "dup" }},
		{"spec.secret_env", func(r *DeployRequest) { r.Spec.SecretEnv["K\n"] = "x" }},
		{"spec.entrypoint[0]", func(r *DeployRequest) { r.Spec.Entrypoint = []string{"/a\x00"} }},
		{"spec.command[1]", func(r *DeployRequest) { r.Spec.Command = []string{"a", "b\x00"} }},
		{"spec.restart_policy", func(r *DeployRequest) { r.Spec.RestartPolicy = "sometimes" }},
		{"spec.network_mode", func(r *DeployRequest) { r.Spec.NetworkMode = "container:" }},
		{"spec.network_mode", func(r *DeployRequest) { r.Spec.NetworkMode = "container:a b" }},
		{"spec.network_mode", func(r *DeployRequest) { r.Spec.NetworkMode = "my net" }},
		{"spec.network_mode", func(r *DeployRequest) { r.Spec.NetworkMode = "host\n" }},
		{"spec.mounts[0].target", func(r *DeployRequest) { r.Spec.Mounts[0].Target = "rel" }},
		{"spec.mounts[0].target", func(r *DeployRequest) { r.Spec.Mounts[0].Target = "/" }},
		{"spec.mounts[1].target", func(r *DeployRequest) { r.Spec.Mounts[1].Target = "/data/" }},
		{"spec.mounts[0].source", func(r *DeployRequest) { r.Spec.Mounts[0].Source = "rel" }},
		{"spec.mounts[0].source", func(r *DeployRequest) { r.Spec.Mounts[0].Source = "" }},
		{"spec.mounts[0].source", func(r *DeployRequest) { r.Spec.Mounts[0].Source = "/srv/a\nb" }},
		{"spec.mounts[1].source", func(r *DeployRequest) { r.Spec.Mounts[1].Source = "c" }},
		{"spec.mounts[1].source", func(r *DeployRequest) { r.Spec.Mounts[1].Source = "../etc" }},
		{"spec.mounts[1].source", func(r *DeployRequest) { r.Spec.Mounts[1].Source = "/etc" }},
		{"spec.labels", func(r *DeployRequest) { r.Spec.Labels[""] = "x" }},
		{"spec.labels", func(r *DeployRequest) { r.Spec.Labels["labfleet.node"] = "node2" }},
		{"spec.labels", func(r *DeployRequest) { r.Spec.Labels["a\tb"] = "x" }},
		{"spec.labels", func(r *DeployRequest) { r.Spec.Labels["k"] = "v\r\nX-Injected: 1" }},
		{"spec.labels", func(r *DeployRequest) { r.Spec.Labels["k"] = strings.Repeat("v", 4097) }},
		{"spec.labels", func(r *DeployRequest) { r.Spec.Labels[strings.Repeat("k", 256)] = "v" }},
		{"spec.memory_bytes", func(r *DeployRequest) { r.Spec.MemoryBytes = 1024 }},
		{"spec.cpus", func(r *DeployRequest) { r.Spec.Cpus = -1 }},
		{"spec.cpus", func(r *DeployRequest) { r.Spec.Cpus = math.NaN() }},
		{"spec.cpus", func(r *DeployRequest) { r.Spec.Cpus = math.Inf(1) }},
		{"spec.cpus", func(r *DeployRequest) { r.Spec.Cpus = math.Inf(-1) }},
		{"spec.cpus", func(r *DeployRequest) { r.Spec.Cpus = 0.001 }},
		{"spec.cpus", func(r *DeployRequest) { r.Spec.Cpus = 0.0099 }},
		{"spec.cpus", func(r *DeployRequest) { r.Spec.Cpus = 1024.5 }},
		{"spec.stop_timeout", func(r *DeployRequest) { r.Spec.StopTimeout = durationpb.New(2 * 3600e9) }},
		{"spec.user", func(r *DeployRequest) { r.Spec.User = "root\n" }},
		{"spec.workdir", func(r *DeployRequest) { r.Spec.Workdir = "app" }},
		{"health.http_path", func(r *DeployRequest) { r.Health.HttpPath = "healthz" }},
		{"health.http_path", func(r *DeployRequest) { r.Health.HttpPath = "/healthz HTTP/1.0\r\n" }},
		{"health.http_path", func(r *DeployRequest) { r.Health = &HealthCheck{Type: HealthCheckType_HEALTH_CHECK_TYPE_HTTP} }},
		{"health.timeout", func(r *DeployRequest) { r.Health.Timeout = durationpb.New(-1) }},
		{"health.timeout", func(r *DeployRequest) { r.Health.Timeout = &durationpb.Duration{Seconds: 1, Nanos: -5} }},
		{"registry_auth.password", func(r *DeployRequest) { r.RegistryAuth = &RegistryAuth{Username: "ci"} }},
		{"registry_auth.username", func(r *DeployRequest) { r.RegistryAuth = &RegistryAuth{Username: "ci\n", Password: "p"} }},
	}
	for _, c := range cases {
		r := validDeploy()
		c.mut(r)
		err := r.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "invalid "+c.field+":") {
			t.Errorf("%s: got %v", c.field, err)
		}
	}
}

func TestDeployRequestValidate_NeverEchoesASecret(t *testing.T) {
	r := validDeploy()
	r.Spec.SecretEnv["PW"] = "hunter2\x00"
	err := r.Validate()
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "PW") {
		t.Errorf("a bad secret value: %v; want it refused, naming the key only", err)
	}
}

func TestRollbackRequestValidate(t *testing.T) {
	for _, v := range []string{"v1\x1b]0;pwned\x07", "v 1", strings.Repeat("v", 129)} {
		if err := (&RollbackRequest{App: "todo", Version: v}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "invalid version:") {
			t.Errorf("rollback to %q: %v", v, err)
		}
	}
	if err := (&RollbackRequest{App: "todo", Version: "v1.2"}).Validate(); err != nil {
		t.Errorf("rollback to v1.2: %v", err)
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

// wantSound fails the test when Validate accepted r but r breaks a rule the
// agent relies on after validation.
func wantSound(t *testing.T, r *DeployRequest) {
	t.Helper()
	if !appNameRe.MatchString(r.GetApp()) {
		t.Errorf("accepted app %q", r.GetApp())
	}
	if _, err := reference.ParseNormalizedNamed(r.GetImage()); err != nil {
		t.Errorf("accepted image %q: %v", r.GetImage(), err)
	}
	if hasControl(r.GetVersion()) || len(r.GetVersion()) > 128 {
		t.Errorf("accepted version %q", r.GetVersion())
	}
	s := r.GetSpec()
	if c := s.GetCpus(); math.IsNaN(c) || math.IsInf(c, 0) || (c != 0 && (c < minCPUs || c > maxCPUs)) {
		t.Errorf("accepted cpus %v", c)
	}
	// The deploy engine turns cpus into NanoCPUs; the engine's minimum
	// must survive the conversion.
	if n := int64(s.GetCpus() * 1e9); s.GetCpus() != 0 && n < 1e7 {
		t.Errorf("accepted cpus %v: %d NanoCPUs is below the engine's minimum", s.GetCpus(), n)
	}
	for k, v := range s.GetLabels() {
		if k == "" || hasControl(k) || hasControl(v) || strings.HasPrefix(k, "labfleet.") {
			t.Errorf("accepted label %q=%q", k, v)
		}
	}
	for k := range s.GetEnv() {
		if !envKeyRe.MatchString(k) {
			t.Errorf("accepted env key %q", k)
		}
	}
	for _, m := range s.GetMounts() {
		if m.GetType() == MountType_MOUNT_TYPE_VOLUME && !volumeRe.MatchString(m.GetSource()) {
			t.Errorf("accepted volume %q", m.GetSource())
		}
		if m.GetType() != MountType_MOUNT_TYPE_VOLUME && (!strings.HasPrefix(m.GetSource(), "/") || hasControl(m.GetSource())) {
			t.Errorf("accepted bind source %q", m.GetSource())
		}
	}
	if n, ok := strings.CutPrefix(s.GetNetworkMode(), "container:"); ok && !containerRe.MatchString(n) {
		t.Errorf("accepted network mode %q", s.GetNetworkMode())
	}
}

// FuzzDeployRequestValidate feeds the fields people type to Validate; the
// seeds run as a normal test. `go test -fuzz FuzzDeployRequestValidate
// ./proto/labfleet/agent/v1` explores further.
func FuzzDeployRequestValidate(f *testing.F) {
	f.Add("todo", "127.0.0.1:5000/todo:v2", "v2", 0.5, "team", "ops", "/srv/labfleet/todo", "cache", "container:node1-web-0a1b2c3d")
	f.Add("todo", "todo@"+digest, "", 0.01, "k", "", "/srv/x", "ab", "host")
	// Each of these breaks one rule, the rest being valid.
	f.Add("todo", "todo:v1", "v1", math.NaN(), "team", "ops", "/srv/x", "cache", "")
	f.Add("todo", "Todo:v1", "v1", 0.5, "team", "ops", "/srv/x", "cache", "")
	f.Add("todo", "todo:v1", "v\x1b1", 0.5, "team", "ops", "/srv/x", "cache", "")
	f.Add("todo", "todo:v1", "v1", 0.5, "team\n", "ops", "/srv/x", "cache", "")
	f.Add("todo", "todo:v1", "v1", 0.5, "team", "ops", "/srv/x", "c", "container:")
	f.Add("Todo", "Todo:v1", "v\x1b1", math.NaN(), "labfleet.node", "v\n", "rel", "c", "container:")
	f.Add("a", "a:b:c", "v 1", 0.001, "", "x", "/", "../etc", "my net")
	f.Add("todo", "todo:", "v1\xff", math.Inf(1), "k\x00", "v", "/srv/a\x00", "/etc", "bridge")
	f.Fuzz(func(t *testing.T, app, image, version string, cpus float64, labelKey, labelValue, bind, volume, network string) {
		r := &DeployRequest{App: app, Image: image, Version: version, Spec: &ContainerSpec{
			Cpus: cpus, Labels: map[string]string{labelKey: labelValue}, NetworkMode: network,
			Mounts: []*Mount{{Source: bind, Target: "/data"}, {Source: volume, Target: "/cache", Type: MountType_MOUNT_TYPE_VOLUME}},
		}}
		if r.Validate() == nil {
			wantSound(t, r)
		}
	})
}

// FuzzDeployRequestWire feeds arbitrary wire bytes, as a client could
// send them: Validate must never panic, and what it accepts must be sound.
func FuzzDeployRequestWire(f *testing.F) {
	for _, r := range []*DeployRequest{validDeploy(), {App: "x", Image: "x:1", Spec: &ContainerSpec{Cpus: math.NaN()}}} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r DeployRequest
		if proto.Unmarshal(b, &r) != nil {
			return
		}
		if r.Validate() == nil {
			wantSound(t, &r)
		}
	})
}
