//go:build !labfleet_lean

package checks

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/labfleet/labfleet/internal/gtid"
	"github.com/labfleet/labfleet/plugins/pluginkit"
)

// These tests cover check_replication's rules without a server, so they
// run under -short; replication_test.go proves them on real mariadbd.

func TestReplication_ParseConnSpec(t *testing.T) {
	for _, tc := range []struct {
		in, name, warn, crit, err string
	}{
		{in: "node1", name: "node1"},
		{in: "node1:30:120", name: "node1", warn: "30", crit: "120"},
		{in: "node1::600", name: "node1", crit: "600"},
		{in: "node1:1.5:", name: "node1", warn: "1.5"},
		{in: ":30:60", name: "", warn: "30", crit: "60"}, // the default connection
		{in: "a:b::", name: "a:b"},
		{in: "node1:60", err: "want NAME or NAME:WARN:CRIT"},
		{in: "node1:x:60", err: `WARN "x" is not a number`},
		{in: "node1:10:-1", err: `CRIT "-1" is not a number`},
		{in: "node1:10:20:", name: "node1:10", warn: "20"}, // the last two colons delimit
	} {
		got, err := parseConnSpec(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseConnSpec(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		str := func(r *pluginkit.Range) string {
			if r == nil {
				return ""
			}
			return r.String()
		}
		if err != nil || got.name != tc.name || str(got.warn) != tc.warn || str(got.crit) != tc.crit {
			t.Errorf("parseConnSpec(%q) = %q %q %q, %v; want %q %q %q", tc.in, got.name, str(got.warn), str(got.crit), err, tc.name, tc.warn, tc.crit)
		}
	}
	if _, err := parseConnSpecs([]string{"a", "a:1:2"}); err == nil || !strings.Contains(err.Error(), "named twice") {
		t.Errorf("a connection named twice: %v", err)
	}
}

func TestReplication_ParseLegacyDomains(t *testing.T) {
	got, err := parseDomains([]string{"0,5", " 7 "})
	if err != nil || len(got) != 3 || got[0] != 0 || got[1] != 5 || got[2] != 7 {
		t.Errorf("parseDomains = %v, %v", got, err)
	}
	for _, none := range [][]string{nil, {""}, {"none"}} {
		if got, err := parseDomains(none); err != nil || len(got) != 0 {
			t.Errorf("parseDomains(%q) = %v, %v; want none", none, got, err)
		}
	}
	if _, err := parseDomains([]string{"-1"}); err == nil {
		t.Error("parseDomains accepted -1")
	}
}

func TestReplication_LagBeyondMasterDelay(t *testing.T) {
	for _, tc := range []struct {
		behind, delay, want int64
		text                string
	}{
		{0, 0, 0, "0s"},
		{42, 0, 42, "42s"},
		{2, 3600, 0, "2s, within MASTER_DELAY 3600s"},
		{3600, 3600, 0, "3600s, within MASTER_DELAY 3600s"},
		{3605, 3600, 5, "3605s, 5s beyond MASTER_DELAY 3600s"},
	} {
		if got := lagBeyondDelay(tc.behind, tc.delay); got != tc.want {
			t.Errorf("lagBeyondDelay(%d, %d) = %d, want %d", tc.behind, tc.delay, got, tc.want)
		}
		if got := lagText(&tc.behind, tc.delay); got != tc.text {
			t.Errorf("lagText(%d, %d) = %q, want %q", tc.behind, tc.delay, got, tc.text)
		}
	}
	if got := lagText(nil, 60); got != "NULL" {
		t.Errorf("lagText(NULL) = %q", got)
	}
}

func TestReplication_ErrantRule(t *testing.T) {
	// Server 2 (domain 2) after setup: its own domain-0 history, the
	// master's domain 1, and one write of its own in domain 1.
	state := gtid.MustParse("0-2-6,1-1-3,1-2-4,2-2-1")
	for _, tc := range []struct {
		legacy []uint32
		want   string
	}{
		{[]uint32{0}, "1-2-4"},
		{nil, "0-2-6,1-2-4"},
		{[]uint32{0, 1}, ""},
	} {
		if got := errantGTIDs(state, 2, 2, tc.legacy).String(); got != tc.want {
			t.Errorf("errantGTIDs(legacy %v) = %q, want %q", tc.legacy, got, tc.want)
		}
	}
	// The master's view of the same state: nothing of its own outside
	// its domain 1 but the legacy history.
	if got := errantGTIDs(gtid.MustParse("0-1-6,1-1-3,1-2-4,2-2-1"), 1, 1, []uint32{0}); len(got) != 0 {
		t.Errorf("errantGTIDs on the master = %v", got)
	}
	if !aheadOfMaster(gtid.MustParse("0-2-6,1-2-4"), gtid.MustParse("1-1-3"), 1) {
		t.Error("a replica at 1-2-4 is ahead of a master at 1-1-3")
	}
	if aheadOfMaster(gtid.MustParse("1-1-3"), gtid.MustParse("1-1-3"), 1) || aheadOfMaster(nil, gtid.MustParse("1-1-3"), 1) {
		t.Error("a replica level with or behind its master is not ahead")
	}
}

func TestReplication_MonitorPrivilege(t *testing.T) {
	for v, want := range map[string]string{
		"10.11.19-MariaDB-0+deb12u1-log": "SLAVE MONITOR",
		"11.4.2-MariaDB":                 "SLAVE MONITOR",
		"10.5.9-MariaDB":                 "SLAVE MONITOR",
		"10.5.8-MariaDB":                 "REPLICATION SLAVE ADMIN",
		"10.4.32-MariaDB":                "REPLICATION CLIENT",
		"":                               "SLAVE MONITOR",
	} {
		if got := monitorPrivilege(v); got != want {
			t.Errorf("monitorPrivilege(%q) = %q, want %q", v, got, want)
		}
	}
	if got := quoteAccount("nagios@10.0.0.%"); got != "'nagios'@'10.0.0.%'" {
		t.Errorf("quoteAccount = %s", got)
	}
	if got := quoteAccount("o'brien@local@host"); got != "'o''brien@local'@'host'" {
		t.Errorf("quoteAccount = %s", got)
	}
}

func TestReplication_MasterAddress(t *testing.T) {
	for in, want := range map[string]string{"db1": "db1 3306", "db1:3307": "db1 3307", "[::1]:3307": "::1 3307", "fe80::1": "fe80::1 3306"} {
		h, p, err := splitHostPort(in)
		if got := h + " " + itoa(p); err != nil || got != want {
			t.Errorf("splitHostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "db1:", "db1:0", "db1:x", "[::1]"} {
		if _, _, err := splitHostPort(bad); err == nil {
			t.Errorf("splitHostPort(%q) accepted", bad)
		}
	}
	if !sameEndpoint("127.0.0.1", 3306, "::ffff:127.0.0.1", 3306) || !sameEndpoint("DB1", 3306, "db1", 3306) {
		t.Error("sameEndpoint misses an equal endpoint")
	}
	if sameEndpoint("db1", 3306, "db1", 3307) || sameEndpoint("10.0.0.1", 3306, "10.0.0.2", 3306) {
		t.Error("sameEndpoint matches a different endpoint")
	}
}

func itoa(n int) string { return pluginkit.FormatFloat(float64(n)) }

// newCheck parses args as check_replication would.
func newCheck(t *testing.T, args ...string) *replicationCheck {
	t.Helper()
	t.Setenv("LABFLEET_DB_PASSWORD", "pw")
	c := &replicationCheck{}
	fs := pflag.NewFlagSet("check_replication", pflag.ContinueOnError)
	c.Flags(fs)
	if err := fs.Parse(append([]string{"-H", "db2", "-u", "monitor"}, args...)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.targets(); err != nil {
		t.Fatal(err)
	}
	return c
}

func i64(n int64) *int64 { return &n }

func TestReplication_ConnectionFindings(t *testing.T) {
	running := slaveStatus{name: "x", masterHost: "10.0.0.1", masterPort: 3306, masterUser: "repl", ioRunning: "Yes", sqlRunning: "Yes", usingGtid: "Slave_Pos"}
	with := func(f func(*slaveStatus)) slaveStatus { s := running; f(&s); return s }
	domain1 := uint32(1)
	for _, tc := range []struct {
		name   string
		args   []string
		conn   slaveStatus
		ref    trxRef
		status pluginkit.Status
		want   []string
	}{
		{"delayed, within the delay", []string{"-w", "1"},
			with(func(s *slaveStatus) { s.secondsBehind, s.sqlDelay = i64(2), 3600 }), trxRef{},
			pluginkit.OK, []string{"'x_lag'=0s;1;300;0", "'x_delay'=3600s;;;0", "lag 2s, within MASTER_DELAY 3600s"}},
		{"delayed, beyond the delay", []string{"-w", "1"},
			with(func(s *slaveStatus) { s.secondsBehind, s.sqlDelay = i64(3605), 3600 }), trxRef{},
			pluginkit.WARNING, []string{"x': lag 3605s, 5s beyond MASTER_DELAY 3600s (breaches -w 1)", "'x_lag'=5s;1;300;0"}},
		{"not delayed", []string{"-w", "1"},
			with(func(s *slaveStatus) { s.secondsBehind = i64(2) }), trxRef{},
			pluginkit.WARNING, []string{"x': lag 2s (breaches -w 1)", "'x_lag'=2s;1;300;0"}},
		{"the connection's own thresholds", []string{"--connection", "x:10:20"},
			with(func(s *slaveStatus) { s.secondsBehind = i64(15) }), trxRef{},
			pluginkit.WARNING, []string{"(breaches --connection x:10:20)", "'x_lag'=15s;10;20;0"}},
		{"its own CRIT, -w kept", []string{"--connection", "x::20", "-w", "5"},
			with(func(s *slaveStatus) { s.secondsBehind = i64(25) }), trxRef{},
			pluginkit.CRITICAL, []string{"(breaches --connection x::20)", "'x_lag'=25s;5;20;0"}},
		{"transactions received, not applied", []string{"--trx-warning", "2"},
			with(func(s *slaveStatus) { s.secondsBehind, s.gtidIOPos, s.gtidSlavePos = i64(0), "1-1-10", "1-1-7" }),
			trxRef{pos: gtid.MustParse("1-1-10")},
			pluginkit.WARNING, []string{"x': 3 transactions received but not applied (breaches --trx-warning 2)", "'x_lag_trx'=3;2;;0", "; 3 transactions not applied)"}},
		{"transactions behind the master, its domain only", []string{"--trx-critical", "10"},
			with(func(s *slaveStatus) { s.secondsBehind, s.gtidIOPos, s.gtidSlavePos = i64(0), "1-1-7", "1-1-7,2-2-1" }),
			trxRef{pos: gtid.MustParse("1-1-20,2-2-5"), domain: &domain1, master: "10.0.0.1:3306"},
			pluginkit.CRITICAL, []string{"x': 13 transactions behind the master (breaches --trx-critical 10)", "'x_lag_trx'=13;;10;0",
				"the master 10.0.0.1:3306 is at 1-1-20 in its domain 1: 13 transactions behind the master"}},
		{"threads down: no lag finding", []string{"-w", "1", "--trx-warning", "0"},
			with(func(s *slaveStatus) { s.sqlRunning, s.gtidIOPos = "No", "1-1-9" }), trxRef{pos: gtid.MustParse("1-1-9")},
			pluginkit.CRITICAL, []string{"x': SQL thread not running |", "'x_lag'=U;1;300;0"}},
		{"no GTID, no master: no lag in transactions", nil,
			with(func(s *slaveStatus) { s.secondsBehind, s.usingGtid = i64(0), "No" }), trxRef{},
			pluginkit.OK, []string{"no GTID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCheck(t, tc.args...)
			r := pluginkit.NewResult("REPLICATION", 0)
			if c.checkConnection(r, tc.conn, tc.ref) {
				r.OK("fine")
			}
			out := r.Render()
			if r.Status() != tc.status {
				t.Errorf("status %v, want %v:\n%s", r.Status(), tc.status, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.conn.usingGtid == "No" && strings.Contains(out, "lag_trx") {
				t.Errorf("lag in transactions without GTID or master:\n%s", out)
			}
		})
	}
}

func TestReplication_MasterConnection(t *testing.T) {
	a := slaveStatus{name: "a", masterHost: "10.0.0.1", masterPort: 3306}
	b := slaveStatus{name: "b", masterHost: "10.0.0.2", masterPort: 3306}
	m := &masterFacts{addr: "10.0.0.2:3306"}
	r := pluginkit.NewResult("REPLICATION", 0)
	if got := newCheck(t, "--master", "10.0.0.2").masterConnection(r, []slaveStatus{a, b}, m); got != 1 || !strings.Contains(r.Render(), "recorded no result") {
		t.Errorf("matching Master_Host: index %d, %v", got, r.Render())
	}
	r = pluginkit.NewResult("REPLICATION", 1)
	m = &masterFacts{addr: "db9:3307"}
	if got := newCheck(t, "--master", "db9:3307").masterConnection(r, []slaveStatus{a}, m); got != 0 || !strings.Contains(r.Render(), "--master db9:3307 taken as the master of connection 'a', which replicates from 10.0.0.1:3306") {
		t.Errorf("the only connection: index %d, %s", got, r.Render())
	}
	r = pluginkit.NewResult("REPLICATION", 0)
	m = &masterFacts{addr: "db9:3307"}
	if got := newCheck(t, "--master", "db9:3307").masterConnection(r, []slaveStatus{a, b}, m); got != -1 ||
		!strings.Contains(r.Render(), "REPLICATION UNKNOWN: --master db9:3307 is not the master of any connection checked (connection 'a' from 10.0.0.1:3306, connection 'b' from 10.0.0.2:3306); name one with --connection") {
		t.Errorf("no match among two: index %d, %s", got, r.Render())
	}
}
