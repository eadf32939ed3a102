package checks_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

// TestTimeouts points every plugin at a listener that accepts connections
// and never answers: each must give up at -t with UNKNOWN, naming the
// stage it was in.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	hung := pt.HungListener(t)
	host, port := pt.SplitAddr(t, hung)
	agent := []string{"-H", host, "-p", port, "--insecure", "-t", "1"}
	for _, tc := range []struct {
		plugin string
		args   []string
		stage  string
	}{
		{"check_labagent", agent, "while checking the gRPC health of the agent at " + hung},
		{"check_container", agent, "while calling ListApps on the agent at " + hung},
		{"check_node", agent, "while calling GetNodeStats on the agent at " + hung},
		{"check_deploy", []string{"--hosts", hung, "--insecure", "--app", "web", "-t", "1"}, "while waiting for GetApp(web) from " + hung},
		{"check_replication", []string{"-H", host, "-P", port, "-u", "monitor", "-t", "1"}, "while connecting to MariaDB at " + hung},
		{"check_app", []string{"-H", host, "-p", port, "-t", "1"}, "while waiting for GET http://" + hung + "/"},
		{"check_haproxy", []string{"--socket", hung, "-t", "1"}, "while waiting for `show stat` from the HAProxy admin socket " + hung},
		{"check_haproxy", []string{"--csv-url", "http://" + hung + "/stats;csv", "-t", "1"}, "while waiting for the stats page http://" + hung},
	} {
		t.Run(tc.plugin, func(t *testing.T) {
			t.Parallel()
			r := pt.Run(t, nil, tc.plugin, tc.args...)
			label := strings.ToUpper(strings.TrimPrefix(tc.plugin, "check_"))
			r.Want(t, 3, label+" UNKNOWN: timed out after 1s "+tc.stage)
			if r.Took < time.Second || r.Took > 3*time.Second {
				t.Errorf("%s took %s with -t 1", tc.plugin, r.Took)
			}
			if strings.Count(r.Out, "\n") != 1 {
				t.Errorf("a timeout should print one line, got:\n%s", r.Out)
			}
			if tc.args[0] != "--csv-url" {
				pt.Golden(t, "timeout_"+strings.TrimPrefix(tc.plugin, "check_"), r)
			}
		})
	}
}

// TestMultiCall runs the plugins through labfleet-checks itself.
func TestMultiCall(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(pt.Dir(t), "labfleet-checks")
	out, err := exec.Command(bin, "check_haproxy", "-V").Output()
	if code := exitCode(err); code != 3 || !strings.HasPrefix(string(out), "check_haproxy (labfleet) ") {
		t.Errorf("labfleet-checks check_haproxy -V: exit %d, %q", code, out)
	}
	out, err = exec.Command(bin).Output()
	if code := exitCode(err); code != 3 || !strings.Contains(string(out), "  check_replication  ") {
		t.Errorf("labfleet-checks without a plugin name: exit %d, %q", code, out)
	}
	for _, p := range pt.Plugins {
		r := pt.Run(t, nil, p, "--help")
		r.Want(t, 3, "Usage: "+p+" ", "-t, --timeout SECONDS", "-v, --verbose")
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
