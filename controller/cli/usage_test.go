package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// Usage errors exit 2 with one line that says what is wrong, without
// cobra's usage text or a "usage: " prefix, and touch no agent.
func TestMain_UsageErrors(t *testing.T) {
	a := &fakeAgent{name: "node1", running: "v1"}
	inv := fleet(t, a)
	t.Setenv("DB_PASSWORD", secret)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-i", inv, "info", "--bogus"}, "labcontroller: unknown flag: --bogus\n"},
		{"unknown flag two levels down", []string{"certs", "init", "--dir", "x", "--bogus"}, "labcontroller: unknown flag: --bogus\n"},
		{"bad output", []string{"-i", inv, "-o", "yaml", "info"}, "labcontroller: --output \"yaml\": use table or json\n"},
		{"bad output on deploy", []string{"-i", inv, "-o", "yaml", "deploy", "--app", "todo", "--image", "todo:v2"}, "labcontroller: --output \"yaml\": use table or json\n"},
		{"missing app", []string{"-i", inv, "deploy", "--image", "todo:v2"}, "labcontroller: deploy needs --app NAME and --image REF\n"},
		{"missing image", []string{"-i", inv, "deploy", "--app", "todo"}, "labcontroller: deploy needs --app NAME and --image REF\n"},
		{"rollback without app", []string{"-i", inv, "rollback"}, "labcontroller: invalid app: is required\n"},
		{"rollback dry run", []string{"-i", inv, "rollback", "--app", "todo", "--dry-run"}, "labcontroller: rollback has no --dry-run"},
		{"no inventory", []string{"info"}, "labcontroller: inventory: no inventory given: use -i FILE (or set LABFLEET_INVENTORY)\n"},
		{"no inventory for deploy", []string{"deploy", "--app", "todo", "--image", "todo:v2"}, "labcontroller: inventory: no inventory given"},
		{"missing inventory", []string{"-i", filepath.Join(t.TempDir(), "nope.ini"), "status"}, "labcontroller: inventory: "},
		{"no such host", []string{"-i", inv, "--limit", "node9", "info"}, `labcontroller: inventory: ` + inv + `: unknown host or group "node9" in --limit`},
		{"literal secret", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "--secret-env", "DB_PASSWORD=" + secret},
			`labcontroller: --secret-env "DB_PASSWORD": a secret value on the command line shows in ` + "`ps`"},
		{"batch 0", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "--batch", "0"}, "labcontroller: --batch 0: must be at least 1\n"},
		{"bad port", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "--port", "eighty"}, "labcontroller: --port "},
		{"haproxy without backend", []string{"-i", inv, "--haproxy", "127.0.0.1:9999", "status"}, "labcontroller: --haproxy needs --haproxy-backend NAME"},
		{"history limit", []string{"-i", inv, "history", "-n", "100000"}, "labcontroller: invalid limit: 100000 must be at most 1000\n"},
		{"bad status app", []string{"-i", inv, "status", "--app", "Todo"}, `labcontroller: invalid --app: "Todo"`},
		// Every deploy option is checked before any node is contacted.
		{"volume dot-dot", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "--volume", "/srv/todo/../../etc:/data"},
			`labcontroller: --volume "/srv/todo/../../etc:/data": the host path must not contain '..'`},
		{"host port twice", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "-p", "8000:8000", "-p", "8000:9000"},
			`labcontroller: --port "8000:9000": host port 8000/tcp is published twice`},
		{"start-first with a fixed port", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "-p", "8000:8000", "--strategy", "start-first"},
			`labcontroller: --strategy "start-first": runs the old and new containers side by side, but host port 8000 is fixed`},
		{"health path without a port", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "--health-path", "/healthz"},
			`labcontroller: --health-path "/healthz": needs a port to probe`},
		{"health path with docker", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "-p", "80:80", "--health", "docker", "--health-path", "/healthz"},
			`labcontroller: --health-path "/healthz": is for an HTTP health check, but the health check is docker`},
		{"negative idle timeout", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "--idle-timeout", "-1s"},
			"labcontroller: --idle-timeout -1s: must not be negative\n"},
		{"negative idle timeout on rollback", []string{"-i", inv, "rollback", "--app", "todo", "--idle-timeout", "-1s"},
			"labcontroller: --idle-timeout -1s: must not be negative\n"},
		// Wrong command lines are usage errors with where to look.
		{"unknown command", []string{"-i", inv, "bogus"}, `labcontroller: unknown command "bogus" for labcontroller; its commands are `},
		{"no command", []string{"-i", inv}, "labcontroller: labcontroller needs a command: "},
		{"unknown certs command", []string{"certs", "bogus"}, `labcontroller: unknown command "bogus" for labcontroller certs; its commands are init`},
		{"nagios without a command", []string{"nagios"}, "labcontroller: labcontroller nagios needs a command: config (see 'labcontroller nagios --help')\n"},
		{"replication without a command", []string{"-i", inv, "replication"}, "labcontroller: labcontroller replication needs a command: "},
		{"argument to info", []string{"-i", inv, "info", "extra"}, `labcontroller: unknown command "extra" for "labcontroller info" (see 'labcontroller info --help')`},
		{"argument to rollback", []string{"-i", inv, "rollback", "--app", "todo", "v1"}, `labcontroller: unknown command "v1" for "labcontroller rollback"`},
		{"stray argument to deploy", []string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "serve"},
			`labcontroller: unexpected argument "serve": the container's command goes after -- (see 'labcontroller deploy --help')`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, errs)
			}
			if !strings.HasPrefix(errs, tt.want) {
				t.Errorf("stderr = %q, want it to start with %q", errs, tt.want)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("stderr has more than one line: %q", errs)
			}
			if low := strings.ToLower(out + errs); strings.Contains(low, "usage: ") || strings.Contains(low, "flags:") {
				t.Errorf("usage text printed:\n%s%s", out, errs)
			}
			if strings.Contains(out+errs, secret) {
				t.Errorf("the secret is printed: %q", errs)
			}
			if strings.Contains(tt.name, "command") && !strings.Contains(errs, "--help') ") && !strings.HasSuffix(errs, "--help')\n") {
				t.Errorf("stderr %q does not say where to look", errs)
			}
		})
	}
	if d, r := a.calls(); len(d)+len(r) != 0 {
		t.Errorf("usage errors reached the agent: %v %v", d, r)
	}
}

// The container's command after -- is not a stray argument.
func TestMain_CommandAfterDashIsTheContainersCommand(t *testing.T) {
	a := &fakeAgent{name: "node1", running: "v1"}
	inv := fleet(t, a)
	code, _, errs := run(t, "-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "--", "serve", "--port", "8000")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if d, _ := a.calls(); len(d) != 1 || strings.Join(d[0].GetSpec().GetCommand(), " ") != "serve --port 8000" {
		t.Errorf("deploys = %v", d)
	}
}

func TestMain_HelpAndVersionExit0(t *testing.T) {
	code, out, errs := run(t, "deploy", "--help")
	if code != 0 || errs != "" {
		t.Errorf("deploy --help: exit %d, stderr %q", code, errs)
	}
	contains(t, "help", out, "--secret-env", "--dry-run", "Exit codes: 0 every node succeeded")
	if code, out, _ := run(t, "--version"); code != 0 || !strings.HasPrefix(out, "labcontroller version ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}
