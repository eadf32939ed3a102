package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/controller/cli"
)

func TestHAProxyConfig(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inv.ini")
	if err := os.WriteFile(inv, []byte("[nodes]\nnode1 ansible_host=127.0.0.11\nnode2 ansible_host=127.0.0.12 haproxy_backup=true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Main(append([]string{"-i", inv}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("haproxy", "config", "--port", "8000", "--agent-check", "--no-verify")
	if code != 0 || !strings.Contains(out, "server node1 127.0.0.11:8000 check agent-check agent-addr 127.0.0.11 agent-port 7444") ||
		!strings.Contains(out, "server node2 127.0.0.12:8000 check backup agent-check") {
		t.Fatalf("haproxy config: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := run("haproxy", "config", "--no-verify"); code != 2 || !strings.Contains(errs, "give --port or the host var app_port") {
		t.Fatalf("without a port: exit %d, %s", code, errs)
	}
}
