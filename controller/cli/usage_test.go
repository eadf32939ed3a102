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
		})
	}
	if d, r := a.calls(); len(d)+len(r) != 0 {
		t.Errorf("usage errors reached the agent: %v %v", d, r)
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
