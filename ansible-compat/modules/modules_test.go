package modules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runModule writes args to a file and runs Main as Ansible would, with
// argv0 as the program name; it returns the decoded result and exit code.
func runModule(t *testing.T, argv0 string, args map[string]any) (map[string]any, int, string) {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "args")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Main([]string{argv0, path}, &stdout, &stderr)
	var res map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("the module printed no JSON object (%v): %q (stderr %q)", err, stdout.String(), stderr.String())
	}
	if strings.Count(strings.TrimSpace(stdout.String()), "\n") != 0 {
		t.Errorf("want exactly one line of JSON, got %q", stdout.String())
	}
	return res, code, stdout.String()
}

func TestMain_PicksModuleByAnsibleNameOrProgramName(t *testing.T) {
	// No agent option: every module fails before dialing, naming the option.
	for _, c := range []struct {
		argv0 string
		args  map[string]any
	}{
		{"/tmp/ansible-tmp/AnsiballZ_labfleet_info", map[string]any{}},
		{"/usr/local/bin/labfleet-ansible", map[string]any{"_ansible_module_name": "ansible.legacy.labfleet_info"}},
		{"labfleet_info", map[string]any{"_ansible_module_name": "labfleet_info", "_ansible_check_mode": true}},
	} {
		res, code, _ := runModule(t, c.argv0, c.args)
		if code != 1 || res["failed"] != true || !strings.Contains(res["msg"].(string), "agent is required") {
			t.Errorf("%s %v: exit %d, %v", c.argv0, c.args, code, res)
		}
	}
	res, code, _ := runModule(t, "labfleet-ansible", map[string]any{})
	if code != 1 || !strings.Contains(res["msg"].(string), "not a labfleet module") {
		t.Errorf("unknown module: exit %d, %v", code, res)
	}
}

func TestMain_OptionErrorsAreReportedTogether(t *testing.T) {
	res, code, _ := runModule(t, "labfleet_deploy", map[string]any{
		"imag": "x", "ports": map[string]any{"a": 1}, "insecure": "perhaps", "_ansible_no_log": false,
	})
	msg, _ := res["msg"].(string)
	for _, want := range []string{
		"Unsupported parameters for (labfleet_deploy) module: imag.", "Supported parameters include: agent, app, ca,",
		"missing required arguments: app, image", "ports: want a list, got a mapping", `insecure: "perhaps" is not a boolean`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("msg lacks %q: %s", want, msg)
		}
	}
	if code != 1 || res["failed"] != true {
		t.Errorf("exit %d, %v", code, res)
	}
}

func TestMain_SecretsAreNeverPrinted(t *testing.T) {
	const secret = "s3cret-value-42"
	res, _, out := runModule(t, "labfleet_deploy", map[string]any{
		"app": "web", "image": "web:v1", "agent": "not a host:port",
		"secret_env": map[string]any{"DB_PASSWORD": secret}, "registry_user": "ci", "registry_password": secret + "-reg",
	})
	if strings.Contains(out, secret) {
		t.Fatalf("the secret was printed: %s", out)
	}
	if res["failed"] != true {
		t.Fatalf("a bad agent address must fail: %v", res)
	}
	// A secret option whose value is rejected is still masked.
	_, _, out = runModule(t, "labfleet_replication", map[string]any{
		"state": "setup", "repl_password": []any{secret}, "nodes": "oops " + secret,
	})
	if strings.Contains(out, secret) {
		t.Fatalf("a rejected secret was printed: %s", out)
	}
}

func TestResult_MasksSecretsEverywhere(t *testing.T) {
	r := Fail("login as root with hunter2-pw failed").Set("log_tail", []string{"DB_PASSWORD=hunter2-pw", "ok"}).
		Set("nested", map[string]any{"hunter2-pw": "x", "pin": "42"})
	r.secrets = []string{"hunter2-pw", "42", ""}
	var b bytes.Buffer
	if err := r.write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("secret shown: %s", out)
	}
	// A short secret is masked where it is a whole value, not inside text.
	if !strings.Contains(out, `"pin":"********"`) || !strings.Contains(out, "DB_PASSWORD=********") {
		t.Errorf("want masked values: %s", out)
	}
}

func TestParams_ConvertLikeAnsible(t *testing.T) {
	m := &Module{Name: "t", Options: []Option{
		{Name: "s", Kind: Str}, {Name: "b", Kind: Bool}, {Name: "i", Kind: Int}, {Name: "d", Kind: Seconds},
		{Name: "l", Kind: List}, {Name: "m", Kind: Dict}, {Name: "dd", Kind: Dicts}, {Name: "def", Kind: Seconds, Default: 7 * time.Second},
	}}
	raw := map[string]any{}
	if err := json.Unmarshal([]byte(`{"s": 1.5, "b": "yes", "i": "42", "d": "90s", "l": "8000:8000, 9000:9000",
		"m": {"A": 1, "B": true, "C": null}, "dd": "[{\"name\": \"n1\"}]", "_ansible_check_mode": "True", "_ansible_diff": false}`), &raw); err != nil {
		t.Fatal(err)
	}
	p, err := parseParams(m, raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.Str("s") != "1.5" || !p.Bool("b") || p.Int("i") != 42 || p.Duration("d") != 90*time.Second || p.Duration("def") != 7*time.Second {
		t.Errorf("scalars: %q %v %d %s %s", p.Str("s"), p.Bool("b"), p.Int("i"), p.Duration("d"), p.Duration("def"))
	}
	if l := p.List("l"); len(l) != 2 || l[1] != "9000:9000" {
		t.Errorf("list: %q", l)
	}
	if d := p.Dict("m"); d["A"] != "1" || d["B"] != "true" || d["C"] != "" {
		t.Errorf("dict: %q", d)
	}
	if dd := p.Dicts("dd"); len(dd) != 1 || dd[0]["name"] != "n1" {
		t.Errorf("dicts: %v", dd)
	}
	if !p.CheckMode || p.Diff {
		t.Errorf("check %v diff %v", p.CheckMode, p.Diff)
	}
}

func TestAgentAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.11:7443": "127.0.0.11:7443", "127.0.0.11": "127.0.0.11:7443", "node1": "node1:7443",
		"[::1]:9000": "[::1]:9000", "::1": "[::1]:7443",
	} {
		if got, err := agentAddr(in); err != nil || got != want {
			t.Errorf("agentAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"node1:port", ":7443", "a b"} {
		if _, err := agentAddr(bad); err == nil {
			t.Errorf("agentAddr(%q) accepted", bad)
		}
	}
}

func TestDeployRequest(t *testing.T) {
	m := Lookup("labfleet_deploy")
	raw := map[string]any{"app": "web", "image": "reg:5000/web:v2", "ports": []any{"8000:8000", "53/udp"},
		"volumes": []any{"/srv/data:/data:ro", "cache:/cache"}, "health_timeout": json.Number("5"), "pull": "never"}
	p, err := parseParams(m, raw)
	if err != nil {
		t.Fatal(err)
	}
	req, err := deployRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	sp := req.GetSpec()
	if len(sp.GetPorts()) != 2 || sp.GetPorts()[1].GetHostPort() != 0 || sp.GetPorts()[1].GetProtocol() != "udp" ||
		!sp.GetMounts()[0].GetReadOnly() || sp.GetMounts()[1].GetType().String() != "MOUNT_TYPE_VOLUME" ||
		req.GetHealth().GetTimeout().AsDuration() != 5*time.Second || sp.GetRestartPolicy() != "unless-stopped" ||
		req.GetPullPolicy().String() != "PULL_POLICY_NEVER" {
		t.Errorf("request: %v", req)
	}
	raw["ports"] = []any{"80:99999"}
	p, _ = parseParams(m, raw)
	if _, err := deployRequest(p); err == nil || !strings.Contains(err.Error(), "ports") {
		t.Errorf("bad port: %v", err)
	}
}
