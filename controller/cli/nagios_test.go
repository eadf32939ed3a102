package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nagiosInventory has two nodes and no control group; the agents need not
// run, nagios config only reads the inventory.
func nagiosInventory(t *testing.T) string {
	return inventory(t, []string{"node1", "node2"}, map[string]string{"node1": "127.0.0.11:7443", "node2": "127.0.0.12:7444"})
}

func TestNagiosConfig_Stdout(t *testing.T) {
	code, out, errs := run(t, "-i", nagiosInventory(t), "nagios", "config", "--app", "todo", "--app", "api:9000")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	contains(t, "config", out, "define host {", "host_name                       node1", "address                         127.0.0.12",
		"_LABAGENT_PORT                  7444", "service_description             app todo", "service_description             container api",
		"service_description             replication")
	// resource.cfg.example comes last, commented out, so stdout is one valid config.
	tail := out[strings.Index(out, "# resource.cfg.example"):]
	for _, l := range strings.Split(strings.TrimSpace(tail), "\n") {
		if !strings.HasPrefix(l, "#") {
			t.Errorf("resource line %q is not commented out", l)
		}
	}
	contains(t, "stderr", errs, `labcontroller: warning: no hosts in inventory group "controls"`)
}

func TestNagiosConfig_OutDirIcinga2(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "icinga2")
	code, out, errs := run(t, "-i", nagiosInventory(t), "nagios", "config", "--app", "todo", "--format", "icinga2", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, f := range []string{"commands.conf", "lab.conf"} {
		contains(t, "stdout", out, "wrote "+filepath.Join(dir, f))
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "lab.conf" {
			contains(t, f, string(b), `object Host "node1"`, `object Host "node2"`)
		}
	}
}

func TestNagiosConfig_UsageErrors(t *testing.T) {
	inv := nagiosInventory(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-i", inv, "nagios", "config", "--format", "xml"}, `labcontroller: --format "xml": use nagios or icinga2`},
		{[]string{"nagios", "config"}, "labcontroller: no inventory given: use -i FILE (or set LABFLEET_INVENTORY)"},
		{[]string{"-i", inv, "nagios", "config", "--app", "Todo"}, `labcontroller: invalid --app: "Todo" must be 1-63 lower-case letters`},
		{[]string{"-i", inv, "nagios", "config", "--app", "todo:http"}, `labcontroller: --app todo:http: "http" is not a port number`},
		{[]string{"-i", filepath.Join(t.TempDir(), "missing.ini"), "nagios", "config"}, "labcontroller: inventory: "},
	}
	for _, tt := range tests {
		code, out, errs := run(t, tt.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errs, tt.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tt.args, code, out, errs, tt.want)
		}
	}
}
