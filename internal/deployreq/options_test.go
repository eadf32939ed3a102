package deployreq_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// full sets every option to a value that is not the zero value.
func full() deployreq.Options {
	return deployreq.Options{
		App: "todo", Image: "registry.example:5000/todo:v2", Version: "v2", DeployID: "20261202T184437Z-3fa2c01b",
		Ports: []string{"8000:8000"}, Env: map[string]string{"DB_HOST": "127.0.0.1"}, SecretEnv: map[string]string{"DB_PASSWORD": "s3cret-value"},
		Labels: map[string]string{"team": "ops"}, Volumes: []string{"/srv/todo:/data:ro"}, Command: []string{"serve"}, Entrypoint: []string{"/todo"},
		Network: "bridge", Restart: "always", User: "1000", Workdir: "/data", Memory: "256m", CPUs: 0.5, StopTimeout: 20 * time.Second,
		Health: "http", HealthPath: "/healthz", HealthPort: 8000, HealthTimeout: 30 * time.Second, HealthInterval: 2 * time.Second,
		Pull: "always", Strategy: "start-first", Registry: "registry.example:5000", RegistryUser: "ci", RegistryPassword: "registry-token",
	}
}

// kebab spells a Go field name the way Opt constants are spelled.
func kebab(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) && unicode.IsLower(r[i-1]) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

func TestAllOpts_OneForEachOptionsField(t *testing.T) {
	typ := reflect.TypeOf(deployreq.Options{})
	if typ.NumField() != len(deployreq.AllOpts) {
		t.Fatalf("Options has %d fields, AllOpts %d options: add the new option to both", typ.NumField(), len(deployreq.AllOpts))
	}
	for i := range typ.NumField() {
		if got, want := string(deployreq.AllOpts[i]), kebab(typ.Field(i).Name); got != want {
			t.Errorf("AllOpts[%d] = %q, want %q for Options.%s", i, got, want, typ.Field(i).Name)
		}
	}
}

// leaves lists the request's fields as paths of proto names, descending
// into labfleet's own messages but not into lists, maps or well-known types.
func leaves(md protoreflect.MessageDescriptor, prefix string) []string {
	var out []string
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		path := prefix + string(f.Name())
		if f.Kind() == protoreflect.MessageKind && !f.IsList() && !f.IsMap() && strings.HasPrefix(string(f.Message().FullName()), "labfleet.") {
			out = append(out, leaves(f.Message(), path+".")...)
			continue
		}
		out = append(out, path)
	}
	return out
}

// has reports whether the field at path is set in m.
func has(m protoreflect.Message, path string) bool {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		f := m.Descriptor().Fields().ByName(protoreflect.Name(p))
		if f == nil || !m.Has(f) {
			return false
		}
		if i < len(parts)-1 {
			m = m.Get(f).Message()
		}
	}
	return true
}

func TestBuild_EveryRequestFieldHasAnOptionThatSetsIt(t *testing.T) {
	req, err := deployreq.Build(full())
	if err != nil {
		t.Fatal(err)
	}
	all := leaves((&agentv1.DeployRequest{}).ProtoReflect().Descriptor(), "")
	if len(all) < 25 {
		t.Fatalf("walked only %d request fields: %v", len(all), all)
	}
	for _, path := range all {
		if path == "dry_run" {
			continue // the front end's dry-run or check mode, not an option
		}
		if !has(req.ProtoReflect(), path) {
			t.Errorf("DeployRequest.%s is not set when every option is: no option sets it; add one to Options (and every front end)", path)
		}
	}
	if req.GetDryRun() {
		t.Error("Build set dry_run")
	}
}

func TestBuild_Values(t *testing.T) {
	req, err := deployreq.Build(full())
	if err != nil {
		t.Fatal(err)
	}
	sp := req.GetSpec()
	switch {
	case sp.GetMemoryBytes() != 256<<20:
		t.Errorf("memory = %d", sp.GetMemoryBytes())
	case sp.GetPorts()[0].GetHostPort() != 8000 || sp.GetPorts()[0].GetContainerPort() != 8000:
		t.Errorf("ports = %v", sp.GetPorts())
	case sp.GetMounts()[0].GetSource() != "/srv/todo" || !sp.GetMounts()[0].GetReadOnly():
		t.Errorf("mounts = %v", sp.GetMounts())
	case req.GetStrategy() != agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST:
		t.Errorf("strategy = %v", req.GetStrategy())
	case req.GetPullPolicy() != agentv1.PullPolicy_PULL_POLICY_ALWAYS:
		t.Errorf("pull = %v", req.GetPullPolicy())
	case req.GetHealth().GetType() != agentv1.HealthCheckType_HEALTH_CHECK_TYPE_HTTP:
		t.Errorf("health = %v", req.GetHealth().GetType())
	case req.GetHealth().GetInterval().AsDuration() != 2*time.Second:
		t.Errorf("interval = %v", req.GetHealth().GetInterval())
	case req.GetRegistryAuth().GetServerAddress() != "registry.example:5000":
		t.Errorf("registry = %v", req.GetRegistryAuth())
	}
	min, err := deployreq.Build(deployreq.Options{App: "todo", Image: "todo:v1"})
	if err != nil {
		t.Fatal(err)
	}
	if min.GetStrategy() != agentv1.DeployStrategy_DEPLOY_STRATEGY_STOP_FIRST || min.GetHealth().GetType() != agentv1.HealthCheckType_HEALTH_CHECK_TYPE_UNSPECIFIED ||
		min.GetRegistryAuth() != nil || min.GetSpec().GetStopTimeout() != nil {
		t.Errorf("defaults: %v", min)
	}
	for _, spelling := range []string{"if-not-present", "if_not_present"} {
		o := deployreq.Options{App: "todo", Image: "todo:v1", Pull: spelling, Strategy: "stop_first"}
		if r, err := deployreq.Build(o); err != nil || r.GetPullPolicy() != agentv1.PullPolicy_PULL_POLICY_IF_NOT_PRESENT {
			t.Errorf("pull %q: %v %v", spelling, r.GetPullPolicy(), err)
		}
	}
}

var cli = deployreq.Spelling{deployreq.OptPorts: "--port", deployreq.OptEnv: "--env", deployreq.OptRestart: "--restart",
	deployreq.OptHealthPath: "--health-path", deployreq.OptRegistryUser: "--registry-user", deployreq.OptRegistryPassword: "--registry-password-file"}

func TestBuild_ErrorsNameTheOptionInTheFrontEndsSpelling(t *testing.T) {
	tests := []struct {
		name   string
		change func(*deployreq.Options)
		opt    deployreq.Opt
		cli    string
	}{
		{"no app", func(o *deployreq.Options) { o.App = "" }, deployreq.OptApp, "app is required"},
		{"bad port", func(o *deployreq.Options) { o.Ports = []string{"80:http"} }, deployreq.OptPorts, `--port "80:http": `},
		{"bad volume", func(o *deployreq.Options) { o.Volumes = []string{"relative"} }, deployreq.OptVolumes, `volumes "relative": `},
		{"bad memory", func(o *deployreq.Options) { o.Memory = "lots" }, deployreq.OptMemory, `memory "lots": want a size like 512m or 1g`},
		{"bad health", func(o *deployreq.Options) { o.Health = "tcp" }, deployreq.OptHealth, `health "tcp": use auto, http, docker or none`},
		{"bad pull", func(o *deployreq.Options) { o.Pull = "sometimes" }, deployreq.OptPull, `pull "sometimes"`},
		{"bad strategy", func(o *deployreq.Options) { o.Strategy = "blue-green" }, deployreq.OptStrategy, `strategy "blue-green"`},
		{"user without password", func(o *deployreq.Options) { o.RegistryPassword = "" }, deployreq.OptRegistryUser, "--registry-user needs --registry-password-file"},
		{"password without user", func(o *deployreq.Options) { o.RegistryUser = "" }, deployreq.OptRegistryPassword, "--registry-password-file needs --registry-user"},
		// These come from the agent's own validation (agentv1.FieldError).
		{"bad env key", func(o *deployreq.Options) { o.Env = map[string]string{"1BAD": "x"} }, deployreq.OptEnv, `--env key "1BAD" is not a valid variable name`},
		{"bad restart", func(o *deployreq.Options) { o.Restart = "sometimes" }, deployreq.OptRestart, `--restart "sometimes" must be no, always`},
		{"bad health path", func(o *deployreq.Options) { o.HealthPath = "healthz" }, deployreq.OptHealthPath, `--health-path "healthz" must start with '/'`},
		{"bad app name", func(o *deployreq.Options) { o.App = "Todo_App" }, deployreq.OptApp, `app "Todo_App" must be 1-63 lower-case`},
		{"bad port number", func(o *deployreq.Options) { o.Ports = []string{"8000:70000"} }, deployreq.OptPorts, "--port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := full()
			tt.change(&o)
			_, err := deployreq.Build(o)
			var oe *deployreq.OptionError
			if !errors.As(err, &oe) || !errors.Is(err, deployreq.ErrOptions) {
				t.Fatalf("err = %v (%T), want an *OptionError", err, err)
			}
			if oe.Opt != tt.opt {
				t.Errorf("option = %q, want %q (%v)", oe.Opt, tt.opt, err)
			}
			if got := oe.In(cli); !strings.Contains(got, tt.cli) {
				t.Errorf("In(cli) = %q, want it to contain %q", got, tt.cli)
			}
			for _, s := range deployreq.Secrets(full()) {
				if strings.Contains(oe.In(cli), s) {
					t.Errorf("message %q holds a secret", oe.In(cli))
				}
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	got := deployreq.Secrets(full())
	if len(got) != 2 || !reflect.DeepEqual(map[string]bool{got[0]: true, got[1]: true}, map[string]bool{"s3cret-value": true, "registry-token": true}) {
		t.Fatalf("Secrets = %q", got)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "64k": 64 << 10, "256m": 256 << 20, "1G": 1 << 30} {
		if got, err := deployreq.ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "-1m", "1.5g", "99999999999999999g"} {
		if _, err := deployreq.ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", in)
		}
	}
}

func TestRequestFields_MatchTheRequestAndAllOpts(t *testing.T) {
	all := map[string]bool{}
	for _, p := range leaves((&agentv1.DeployRequest{}).ProtoReflect().Descriptor(), "") {
		all[p] = true
	}
	used := map[deployreq.Opt]int{}
	for path, o := range deployreq.RequestFields {
		if !all[path] {
			t.Errorf("RequestFields names %q, which DeployRequest does not have", path)
		}
		used[o]++
	}
	for _, o := range deployreq.AllOpts {
		if used[o] != 1 {
			t.Errorf("option %q sets %d request fields in RequestFields, want 1", o, used[o])
		}
	}
}
