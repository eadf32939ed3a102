package mariadb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// A password with every character that needs care in a SQL literal.
const trickyPassword = `it's a \ "pw"`

// trickyLiteral is trickyPassword as a single-quoted MariaDB literal.
const trickyLiteral = `'it\'s a \\ "pw"'`

func desired() Desired {
	return Desired{
		Settings: &Settings{DomainID: 2, AutoIncIncrement: 2, AutoIncOffset: 2, BinlogFormat: "row"},
		User:     &User{Name: "repl", Password: trickyPassword},
		Sources:  []Source{{Name: "node1", Host: "10.0.0.1", Port: 3306, User: "repl", Password: trickyPassword}},
	}
}

func changeList(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s | %s | %v\n", c.Action, c.Detail, c.Changed)
	}
	return b.String()
}

func wantStatements(t *testing.T, s *fakeServer, want ...string) {
	t.Helper()
	got := s.statements()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("statements:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const freshChanges = `set gtid_domain_id | 0 -> 2 | true
set auto_increment_increment | 1 -> 2 | true
set auto_increment_offset | 1 -> 2 | true
set binlog_format | MIXED -> ROW | true
replication user 'repl'@'%' | created | true
connection 'node1' from 10.0.0.1:3306 | created with MASTER_USE_GTID=slave_pos and started | true
`

func TestConfigure_FreshServer(t *testing.T) {
	m, s := fakeManager(t)
	changes, err := m.Configure(context.Background(), desired())
	if err != nil {
		t.Fatal(err)
	}
	if got := changeList(changes); got != freshChanges {
		t.Errorf("changes:\n%s\nwant:\n%s", got, freshChanges)
	}
	wantStatements(t, s,
		"SET GLOBAL gtid_domain_id = 2",
		"SET GLOBAL auto_increment_increment = 2",
		"SET GLOBAL auto_increment_offset = 2",
		"SET GLOBAL binlog_format = 'ROW'",
		"SET SESSION sql_log_bin = 0",
		"CREATE USER 'repl'@'%' IDENTIFIED BY "+trickyLiteral,
		"GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO 'repl'@'%'",
		"SET SESSION sql_log_bin = 1",
		"CHANGE MASTER 'node1' TO MASTER_HOST='10.0.0.1', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD="+trickyLiteral+
			", MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=5",
		"START SLAVE 'node1'",
	)
	// The account statements run on the one connection that has sql_log_bin=0.
	log := s.log()
	conn := func(i int) string { c, _, _ := strings.Cut(log[i], ":"); return c }
	if len(log) == 10 && (conn(4) != conn(5) || conn(5) != conn(6) || conn(6) != conn(7)) {
		t.Errorf("account statements ran on different connections:\n%s", strings.Join(log[4:8], "\n"))
	}
}

func TestConfigure_DryRunExecutesNothing(t *testing.T) {
	m, s := fakeManager(t)
	d := desired()
	d.DryRun = true
	changes, err := m.Configure(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if got := changeList(changes); got != freshChanges {
		t.Errorf("dry-run changes:\n%s\nwant the same as a real run:\n%s", got, freshChanges)
	}
	wantStatements(t, s)
}

// inSync makes the fake server match desired().
func inSync(s *fakeServer) {
	s.facts["gtid_domain_id"], s.facts["auto_increment_increment"], s.facts["auto_increment_offset"], s.facts["binlog_format"] = "2", "2", "2", "ROW"
	s.setUser("repl", "%", nativeHash(trickyPassword))
	s.addSlave(runningSlave("node1", "10.0.0.1"))
}

func TestConfigure_InSyncServerChangesNothing(t *testing.T) {
	m, s := fakeManager(t)
	inSync(s)
	changes, err := m.Configure(context.Background(), desired())
	if err != nil {
		t.Fatal(err)
	}
	want := `set gtid_domain_id | 2 already | false
set auto_increment_increment | 2 already | false
set auto_increment_offset | 2 already | false
set binlog_format | ROW already | false
replication user 'repl'@'%' | exists with the right password | false
connection 'node1' from 10.0.0.1:3306 | running | false
`
	if got := changeList(changes); got != want {
		t.Errorf("changes:\n%s\nwant:\n%s", got, want)
	}
	// The grant is re-applied (it is idempotent), outside the binlog.
	wantStatements(t, s,
		"SET SESSION sql_log_bin = 0",
		"GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO 'repl'@'%'",
		"SET SESSION sql_log_bin = 1",
	)
}

func TestConfigure_ChangedPasswordIsReset(t *testing.T) {
	m, s := fakeManager(t)
	inSync(s)
	s.setUser("repl", "%", nativeHash("the old one"))
	d := desired()
	d.Settings, d.Sources = nil, nil
	changes, err := m.Configure(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := changeList(changes), "replication user 'repl'@'%' | password reset to the one the controller holds | true\n"; got != want {
		t.Errorf("changes: %s want %s", got, want)
	}
	wantStatements(t, s,
		"SET SESSION sql_log_bin = 0",
		"ALTER USER 'repl'@'%' IDENTIFIED BY "+trickyLiteral,
		"GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO 'repl'@'%'",
		"SET SESSION sql_log_bin = 1",
	)
}

func TestConfigure_AccountNameAndHostAreEscaped(t *testing.T) {
	m, s := fakeManager(t)
	_, err := m.Configure(context.Background(), Desired{User: &User{Name: `o'brien`, Password: "x", Host: `10.0.0.%`}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatements(t, s,
		"SET SESSION sql_log_bin = 0",
		`CREATE USER 'o\'brien'@'10.0.0.%' IDENTIFIED BY 'x'`,
		`GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO 'o\'brien'@'10.0.0.%'`,
		"SET SESSION sql_log_bin = 1",
	)
}

func TestConfigure_Connections(t *testing.T) {
	reconfigure := []string{
		"STOP SLAVE 'node1'",
		"CHANGE MASTER 'node1' TO MASTER_HOST='10.0.0.1', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD=" + trickyLiteral +
			", MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=5",
		"START SLAVE 'node1'",
	}
	const reconfigured = "reconfigured (host, port, user, password or GTID mode differed, or the master refused the password) and started"
	cases := []struct {
		name       string
		row        map[string]string // changes to a running connection from 10.0.0.1
		detail     string
		statements []string
		conflict   []string // ErrConflict with these in the message
	}{
		{"running", nil, "running", nil, nil},
		{"stopped cleanly", map[string]string{"Slave_IO_Running": "No", "Slave_SQL_Running": "No"}, "started (IO No, SQL No)",
			[]string{"START SLAVE 'node1'"}, nil},
		{"IO connecting", map[string]string{"Slave_IO_Running": "Connecting", "Last_IO_Errno": "2003", "Last_IO_Error": "error connecting"},
			"started (IO Connecting, SQL Yes)", []string{"START SLAVE 'node1'"}, nil},
		{"other host", map[string]string{"Master_Host": "10.0.0.9"}, reconfigured, reconfigure, nil},
		{"other port", map[string]string{"Master_Port": "3307"}, reconfigured, reconfigure, nil},
		{"other user", map[string]string{"Master_User": "root"}, reconfigured, reconfigure, nil},
		{"no GTID", map[string]string{"Using_Gtid": "No"}, reconfigured, reconfigure, nil},
		{"current_pos GTID", map[string]string{"Using_Gtid": "Current_Pos"}, reconfigured, reconfigure, nil},
		{"password refused", map[string]string{"Slave_IO_Running": "Connecting", "Last_IO_Errno": "1045", "Last_IO_Error": "Access denied"},
			reconfigured, reconfigure, nil},
		{"duplicate key", map[string]string{"Slave_SQL_Running": "No", "Last_SQL_Errno": "1062", "Last_SQL_Error": "Duplicate entry '7' for key 'PRIMARY'"},
			"", nil, []string{"connection 'node1': SQL thread stopped with error 1062: Duplicate entry '7' for key 'PRIMARY'", "decide which copy wins"}},
		{"missing row", map[string]string{"Slave_SQL_Running": "No", "Last_SQL_Errno": "1032", "Last_SQL_Error": "Can't find record"},
			"", nil, []string{"error 1032", "the nodes' data differ; reseed this node from the peer"}},
		{"GTID out of order", map[string]string{"Slave_SQL_Running": "No", "Last_SQL_Errno": "1950", "Last_SQL_Error": "out of order"},
			"", nil, []string{"error 1950", "gtid_strict_mode"}},
		{"other SQL error", map[string]string{"Slave_SQL_Running": "No", "Last_SQL_Errno": "1146", "Last_SQL_Error": "no table"},
			"", nil, []string{"error 1146: no table", "START SLAVE 'node1' or re-run setup"}},
		{"binlog purged", map[string]string{"Slave_IO_Running": "No", "Last_IO_Errno": "1236", "Last_IO_Error": "Could not find GTID state"},
			"", nil, []string{"connection 'node1': Could not find GTID state (error 1236", "reseed this node from 10.0.0.1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, s := fakeManager(t)
			row := runningSlave("node1", "10.0.0.1")
			for k, v := range c.row {
				row[k] = v
			}
			s.addSlave(row)
			changes, err := m.Configure(context.Background(), Desired{Sources: desired().Sources})
			if c.conflict != nil {
				if !errors.Is(err, ErrConflict) {
					t.Fatalf("Configure = %v; want ErrConflict", err)
				}
				for _, w := range c.conflict {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error should contain %q:\n%v", w, err)
					}
				}
				wantStatements(t, s)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 1 || changes[0].Detail != c.detail || changes[0].Changed != (c.statements != nil) {
				t.Errorf("changes %+v; want detail %q, changed %v", changes, c.detail, c.statements != nil)
			}
			wantStatements(t, s, c.statements...)
		})
	}
}

func TestConfigure_MasterHostComparesWithoutCase(t *testing.T) {
	m, s := fakeManager(t)
	s.addSlave(runningSlave("node1", "DB1.lab"))
	src := desired().Sources[0]
	src.Host = "db1.lab"
	changes, err := m.Configure(context.Background(), Desired{Sources: []Source{src}})
	if err != nil || len(changes) != 1 || changes[0].Changed || changes[0].Detail != "running" {
		t.Fatalf("Configure = %+v, %v; want the running connection left alone", changes, err)
	}
	wantStatements(t, s)
}

func TestConfigure_PreconditionsAndConflictsChangeNothing(t *testing.T) {
	t.Run("no binary log", func(t *testing.T) {
		m, s := fakeManager(t)
		s.facts["log_bin"] = "0"
		_, err := m.Configure(context.Background(), desired())
		if !errors.Is(err, ErrPrecondition) {
			t.Fatalf("Configure = %v; want ErrPrecondition", err)
		}
		for _, w := range []string{"log_bin is OFF and log_slave_updates is ON on 10.0.0.1:3306", "log_bin = mysql-bin", "restart MariaDB"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error should contain %q:\n%v", w, err)
			}
		}
		wantStatements(t, s)
	})
	t.Run("no log_slave_updates", func(t *testing.T) {
		m, s := fakeManager(t)
		s.facts["log_slave_updates"] = "0"
		if _, err := m.Configure(context.Background(), desired()); !errors.Is(err, ErrPrecondition) ||
			!strings.Contains(err.Error(), "log_bin is ON and log_slave_updates is OFF") {
			t.Fatalf("Configure = %v; want ErrPrecondition", err)
		}
		wantStatements(t, s)
	})
	t.Run("second connection to the same master", func(t *testing.T) {
		m, s := fakeManager(t)
		s.addSlave(runningSlave("old", "10.0.0.1"))
		d := desired()
		d.Sources[0].Host = "10.0.0.1"
		_, err := m.Configure(context.Background(), d)
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("Configure = %v; want ErrConflict", err)
		}
		for _, w := range []string{`connection "old" already replicates from 10.0.0.1:3306`, "STOP SLAVE 'old'; RESET SLAVE 'old' ALL", `name the peer "old"`} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error should contain %q:\n%v", w, err)
			}
		}
		// Checked before the settings change.
		wantStatements(t, s)
	})
	t.Run("same master on another port is fine", func(t *testing.T) {
		m, s := fakeManager(t)
		row := runningSlave("old", "10.0.0.1")
		row["Master_Port"] = "3307"
		s.addSlave(row)
		if _, err := m.Configure(context.Background(), Desired{Sources: desired().Sources, DryRun: true}); err != nil {
			t.Fatalf("Configure = %v", err)
		}
	})
}

func TestConfigure_ErrorsAreClassifiedAndKeepPasswordsOut(t *testing.T) {
	privilege := &mysql.MySQLError{Number: 1227, Message: "Access denied; you need (at least one of) the SUPER privilege(s)"}
	t.Run("privilege for SET GLOBAL", func(t *testing.T) {
		m, s := fakeManager(t)
		s.execErr["SET GLOBAL auto_increment_increment"] = privilege
		changes, err := m.Configure(context.Background(), desired())
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "lacks a privilege for SET GLOBAL auto_increment_increment") {
			t.Fatalf("Configure = %v; want ErrUnavailable naming the step", err)
		}
		// What was done before the failure is reported; nothing after it ran.
		if len(changes) != 2 || changes[0].Action != "set gtid_domain_id" {
			t.Errorf("changes %+v; want the two settings attempted", changes)
		}
		wantStatements(t, s, "SET GLOBAL gtid_domain_id = 2", "SET GLOBAL auto_increment_increment = 2")
	})
	t.Run("CREATE USER fails", func(t *testing.T) {
		m, s := fakeManager(t)
		s.execErr["CREATE USER"] = &mysql.MySQLError{Number: 1396, Message: "Operation CREATE USER failed for 'repl'@'%'"}
		_, err := m.Configure(context.Background(), desired())
		want := "manage replication user 'repl'@'%': MariaDB error 1396: Operation CREATE USER failed for 'repl'@'%'"
		if err == nil || err.Error() != want {
			t.Fatalf("Configure = %v\nwant %s", err, want)
		}
		if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrConflict) {
			t.Errorf("a plain MariaDB error was classified: %v", err)
		}
		// sql_log_bin is restored on the pooled connection even so.
		st := s.statements()
		if st[len(st)-1] != "SET SESSION sql_log_bin = 1" {
			t.Errorf("last statement %q; want sql_log_bin restored", st[len(st)-1])
		}
	})
	t.Run("CHANGE MASTER fails", func(t *testing.T) {
		m, s := fakeManager(t)
		s.execErr["CHANGE MASTER"] = &mysql.MySQLError{Number: 1198, Message: "This operation cannot be performed as you have a running slave"}
		_, err := m.Configure(context.Background(), Desired{Sources: desired().Sources})
		want := "CHANGE MASTER 'node1': MariaDB error 1198: This operation cannot be performed as you have a running slave"
		if err == nil || err.Error() != want {
			t.Fatalf("Configure = %v\nwant %s", err, want)
		}
		if strings.Contains(err.Error(), "pw") {
			t.Errorf("the error shows the password: %v", err)
		}
	})
	t.Run("admin refused", func(t *testing.T) {
		m, s := fakeManager(t)
		s.queryErr["SELECT @@version"] = &mysql.MySQLError{Number: 1045, Message: "Access denied for user 'root'@'10.0.0.2' (using password: YES)"}
		_, err := m.Configure(context.Background(), desired())
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "--mariadb-password-file") {
			t.Fatalf("Configure = %v; want ErrUnavailable with the flags to check", err)
		}
	})
}

func TestMarkers(t *testing.T) {
	m, s := fakeManager(t)
	s.markers["from-node2"] = true
	found, err := m.Markers(context.Background(), "from-node1", []string{"from-node2", "from-node3", "from-node1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(found, ",") != "from-node2,from-node1" {
		t.Errorf("found %q, want from-node2 and this node's own from-node1", found)
	}
	st := s.statements()
	if len(st) != 4 || st[0] != "SET SESSION gtid_domain_id = @@GLOBAL.gtid_domain_id" ||
		st[3] != "INSERT IGNORE INTO labfleet.replication_markers (marker, server_id) VALUES (?, @@server_id) [from-node1]" {
		t.Errorf("statements:\n%s", strings.Join(st, "\n"))
	}
	// All on one connection, so the marker goes out in this node's domain.
	log := s.log()
	for _, l := range log[1:] {
		if c, _, _ := strings.Cut(l, ":"); !strings.HasPrefix(log[0], c+":") {
			t.Errorf("%q ran on another connection than %q", l, log[0])
		}
	}

	// Before the table has replicated here, a read finds nothing; it is no error.
	m, s = fakeManager(t)
	s.queryErr["SELECT COUNT(*)"] = &mysql.MySQLError{Number: 1146, Message: "Table 'labfleet.replication_markers' doesn't exist"}
	if found, err := m.Markers(context.Background(), "", []string{"x"}, ""); err != nil || len(found) != 0 {
		t.Errorf("Markers before the table exists = %q, %v; want none, no error", found, err)
	}
	wantStatements(t, s)
	s.queryErr["SELECT COUNT(*)"] = &mysql.MySQLError{Number: 1049, Message: "Unknown database 'labfleet'"}
	if found, err := m.Markers(context.Background(), "", []string{"x"}, ""); err != nil || len(found) != 0 {
		t.Errorf("Markers before the database exists = %q, %v; want none, no error", found, err)
	}
	s.queryErr["SELECT COUNT(*)"] = &mysql.MySQLError{Number: 1054, Message: "Unknown column"}
	if _, err := m.Markers(context.Background(), "", []string{"x"}, ""); err == nil || err.Error() != "read marker: MariaDB error 1054: Unknown column" {
		t.Errorf("Markers with another error = %v", err)
	}
}

func TestNativeHash(t *testing.T) {
	// MariaDB's SELECT PASSWORD('password'); the real-server test checks
	// the hash of a harder password against the server itself.
	if got, want := nativeHash("password"), "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"; got != want {
		t.Errorf("nativeHash(\"password\") = %s, want %s", got, want)
	}
	if nativeHash("a") == nativeHash("b") || len(nativeHash(trickyPassword)) != 41 {
		t.Error("nativeHash is not a 41-character hash per password")
	}
}

func TestEsc(t *testing.T) {
	for in, want := range map[string]string{
		"plain":        "plain",
		`it's`:         `it\'s`,
		`back\slash`:   `back\\slash`,
		`\'`:           `\\\'`,
		`"double"`:     `"double"`,
		`'; DROP --`:   `\'; DROP --`,
		`trailing\`:    `trailing\\`,
		`%_wildcards`:  `%_wildcards`,
		"tab\tnewline": "tab\tnewline",
	} {
		if got := esc(in); got != want {
			t.Errorf("esc(%q) = %q, want %q", in, got, want)
		}
	}
}
