//go:build !labfleet_lean

package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/labfleet/labfleet/plugins/pluginkit"
)

// haproxyOn runs check_haproxy's evaluation, with args, on a `show stat`
// answer captured from HAProxy 2.6: internal/haproxy/testdata, where
// parse_test.go says how each file was made. The show_stat_agent_* files
// are the lab's backend: node1 active, node2 backup, each with an
// agent-check.
func haproxyOn(t *testing.T, file string, args ...string) (pluginkit.Status, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "haproxy", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	c := &haproxyCheck{}
	fs := pflag.NewFlagSet("check_haproxy", pflag.ContinueOnError)
	c.Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	rows, err := parseStats(string(b))
	if err != nil {
		t.Fatal(err)
	}
	r := pluginkit.NewResult("HAPROXY", 0)
	c.evaluate(r, rows, "SOCKET")
	return r.Status(), r.Render()
}

func TestHAProxy_PrimaryBackupStates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		args   []string
		status pluginkit.Status
		first  string
	}{
		{"both usable", "show_stat_agent_ok.txt", nil, pluginkit.OK,
			"HAPROXY OK: backend app: node1 serving, 2 of 2 servers usable | 'app_up'=2;2:;1:;0;2 'app_sessions'=0;;;0 'app_active_usable'=1;;;0;1 'app_backup_usable'=1;;;0;1"},
		// The agent holds node1 at weight 0: HAProxy's status still says
		// UP, but node2 serves. A failover is WARNING whatever -w says.
		{"failover", "show_stat_agent_failover.txt", nil, pluginkit.WARNING,
			"HAPROXY WARNING: backend app: failover: node2 serving, 1 of 2 servers usable (node1 weight 0 (agent: replication: connection 'node2': 5 transactions received, not yet applied)) | 'app_up'=1;2:;1:;0;2 'app_sessions'=0;;;0 'app_active_usable'=0;;;0;1 'app_backup_usable'=1;;;0;1"},
		{"failover -w 1:", "show_stat_agent_failover.txt", []string{"-w", "1:"}, pluginkit.WARNING,
			"HAPROXY WARNING: backend app: failover: node2 serving, 1 of 2 servers usable (node1 weight 0 (agent: replication: connection 'node2': 5 transactions received, not yet applied)) | 'app_up'=1;1:;1:;0;2"},
		// The backup at weight 0 is one server fewer: -w/-c decide.
		{"backup at weight 0", "show_stat_agent_backup_weight0.txt", nil, pluginkit.WARNING,
			"HAPROXY WARNING: backend app: node1 serving, 1 of 2 servers usable (node2 weight 0 (agent: replication: IO thread not running)) | 'app_up'=1;2:;1:;0;2 'app_sessions'=0;;;0 'app_active_usable'=1;;;0;1 'app_backup_usable'=0;;;0;1"},
		{"backup at weight 0 -w 1:", "show_stat_agent_backup_weight0.txt", []string{"-w", "1:"}, pluginkit.OK,
			"HAPROXY OK: backend app: node1 serving, 1 of 2 servers usable (node2 weight 0 (agent: replication: IO thread not running)) |"},
		// No usable server: CRITICAL, even with a -c that allows none.
		{"none usable", "show_stat_agent_none_usable.txt", nil, pluginkit.CRITICAL,
			"HAPROXY CRITICAL: backend app: no usable server, 0 of 2 servers usable (node1 DOWN (agent: app todo: container exited), node2 weight 0 (agent: replication: behind by 5 transactions)) | 'app_up'=0;2:;1:;0;2 'app_sessions'=0;;;0 'app_active_usable'=0;;;0;1 'app_backup_usable'=0;;;0;1"},
		{"none usable -w 0: -c 0:", "show_stat_agent_none_usable.txt", []string{"-w", "0:", "-c", "0:"}, pluginkit.CRITICAL,
			"HAPROXY CRITICAL: backend app: no usable server, 0 of 2 servers usable"},
		// node1 drained (a rollout, `node drain`): the backup serves; the
		// thresholds alone decide, as before.
		{"drain", "show_stat_agent_drain.txt", nil, pluginkit.WARNING,
			"HAPROXY WARNING: backend app: backup node2 serving, 1 of 2 servers usable (node1 DRAIN) | 'app_up'=1;2:;1:;0;2"},
		{"drain -w 1:", "show_stat_agent_drain.txt", []string{"-w", "1:"}, pluginkit.OK,
			"HAPROXY OK: backend app: backup node2 serving, 1 of 2 servers usable (node1 DRAIN) |"},
		// An agent that cannot be reached changes nothing in HAProxy.
		{"agent unreachable", "show_stat_agent_unreachable.txt", nil, pluginkit.OK,
			"HAPROXY OK: backend app: node1 serving, 2 of 2 servers usable |"},
		// Without agent-checks, round robin plus a spare backup.
		{"round robin", "show_stat.txt", []string{"--backend", "app"}, pluginkit.OK,
			"HAPROXY OK: backend app: node1 serving, 2 of 5 servers usable (node2 DRAIN, node3 MAINT, node4 DOWN (L4CON)) | 'app_up'=2;2:;1:;0;5 'app_sessions'=0;;;0 'app_active_usable'=1;;;0;4 'app_backup_usable'=1;;;0;1"},
		{"no backups", "show_stat.txt", []string{"--backend", "other"}, pluginkit.OK,
			"HAPROXY OK: backend other: 2 of 2 servers usable | 'other_up'=2;2:;1:;0;2 'other_sessions'=0;;;0 'other_active_usable'=2;;;0;2 'other_backup_usable'=0;;;0;0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := haproxyOn(t, tc.file, tc.args...)
			if status != tc.status || !strings.HasPrefix(out, tc.first) {
				t.Errorf("got %s:\n%s\nwant %s, starting %q", status, out, tc.status, tc.first)
			}
		})
	}
}

func TestHAProxy_LongOutputShowsRoleWeightAndAgent(t *testing.T) {
	_, out := haproxyOn(t, "show_stat_agent_failover.txt")
	_, long, _ := strings.Cut(out, "\n")
	want := "app/node1 (active): UP, weight 0, not usable, check L7OK, agent: up (replication: connection 'node2': 5 transactions received, not yet applied), 0 sessions\n" +
		"app/node2 (backup): UP, weight 1, usable, check L7OK, agent: up (todo healthy, replication caught up), 0 sessions\n"
	if long != want {
		t.Errorf("long output:\n%s\nwant:\n%s", long, want)
	}
	_, out = haproxyOn(t, "show_stat_agent_unreachable.txt")
	if !strings.Contains(out, "app/node1 (active): UP, weight 1, usable, check L7OK, agent L4CON: Connection refused, 0 sessions\n") {
		t.Errorf("an unreachable agent is not shown:\n%s", out)
	}
}

func TestHAProxy_NotUsable(t *testing.T) {
	for _, tc := range []struct {
		row  statRow
		want string
	}{
		{statRow{status: "UP", weight: 1}, ""},
		{statRow{status: "UP 1/2", weight: 1}, ""},
		{statRow{status: "no check", weight: -1}, ""}, // no weight column
		{statRow{status: "UP", weight: 0}, "weight 0"},
		{statRow{status: "UP", weight: 0, agent: "via agent : up (held: node drain)"}, "weight 0 (agent: held: node drain)"},
		{statRow{status: "DOWN (agent)", weight: 1, check: "L7OK", agent: "via agent : down"}, "DOWN (agent)"},
		{statRow{status: "DOWN", weight: 1, check: "L4CON"}, "DOWN (L4CON)"},
		{statRow{status: "DRAIN (agent)", weight: 1}, "DRAIN"},
		{statRow{status: "MAINT", weight: 1}, "MAINT"},
		{statRow{status: "NOLB", weight: 0}, "NOLB"},
	} {
		if got := notUsable(tc.row); got != tc.want {
			t.Errorf("notUsable(%+v) = %q, want %q", tc.row, got, tc.want)
		}
	}
}
