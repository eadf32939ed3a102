package checks_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

// replPair is two MariaDB servers replicating both ways over named
// connections, set up by SQL as an operator would: db2 replicates from db1
// over 'node1', db1 from db2 over 'node2'. db1's connection is delayed by
// an hour (MASTER_DELAY), so a write on db2 makes db1 lag for real.
type replPair struct {
	db1, db2 *labtest.MariaDB
	pwFile   string
}

const monitorPassword = "monitor-pw"

func newReplPair(t *testing.T) *replPair {
	t.Helper()
	p := &replPair{db1: labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: 1, LogSlaveUpdates: true})}
	p.db2 = labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: 2, LogSlaveUpdates: true})
	for i, m := range []*labtest.MariaDB{p.db1, p.db2} {
		m.Exec(t, fmt.Sprintf(`SET GLOBAL gtid_domain_id = %d; SET SESSION sql_log_bin = 0;
			CREATE USER 'repl'@'127.%%' IDENTIFIED BY 'repl-pw';
			GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.%%';
			CREATE USER 'monitor'@'127.%%' IDENTIFIED BY '%s';
			GRANT REPLICA MONITOR ON *.* TO 'monitor'@'127.%%';
			CREATE USER 'nopriv'@'127.%%' IDENTIFIED BY '%s'`, i+1, monitorPassword, monitorPassword))
	}
	change := func(m, master *labtest.MariaDB, name, extra string) {
		m.Exec(t, fmt.Sprintf(`CHANGE MASTER '%s' TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='repl',
			MASTER_PASSWORD='repl-pw', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos%s`, name, master.IP, master.Port, extra))
		m.Exec(t, "START SLAVE '"+name+"'")
	}
	change(p.db2, p.db1, "node1", "")
	change(p.db1, p.db2, "node2", ", MASTER_DELAY=3600")
	p.waitFor(t, p.db2.DB(t), "node1", func(s status) bool { return s.io == "Yes" && s.sql == "Yes" })
	p.waitFor(t, p.db1.DB(t), "node2", func(s status) bool { return s.io == "Yes" && s.sql == "Yes" })
	p.pwFile = filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p.pwFile, []byte(monitorPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type status struct {
	io, sql string
	lag     sql.NullInt64
	ioErrno int
}

// waitFor polls SHOW SLAVE 'name' STATUS until ok, for up to 30 s.
func (p *replPair) waitFor(t *testing.T, db *sql.DB, name string, ok func(status) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var s status
		rows, err := db.Query("SHOW SLAVE '" + name + "' STATUS")
		if err == nil {
			cols, _ := rows.Columns()
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if rows.Next() && rows.Scan(ptrs...) == nil {
				for i, c := range cols {
					switch c {
					case "Slave_IO_Running":
						s.io = vals[i].String
					case "Slave_SQL_Running":
						s.sql = vals[i].String
					case "Seconds_Behind_Master":
						if vals[i].Valid {
							n, _ := strconv.ParseInt(vals[i].String, 10, 64)
							s.lag = sql.NullInt64{Int64: n, Valid: true}
						}
					case "Last_IO_Errno":
						s.ioErrno, _ = strconv.Atoi(vals[i].String)
					}
				}
			}
			rows.Close()
		}
		if ok(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection %s not in the awaited state within 30s: %+v (%v)", name, s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *replPair) args(m *labtest.MariaDB, extra ...string) []string {
	return append([]string{"-H", m.IP, "-P", strconv.Itoa(m.Port), "-u", "monitor", "--password-file", p.pwFile}, extra...)
}

func TestCheckReplication(t *testing.T) {
	t.Parallel()
	p := newReplPair(t)
	run := func(t *testing.T, env []string, args ...string) pt.Result {
		t.Helper()
		return pt.Run(t, env, "check_replication", args...)
	}
	gtids := pt.Regexp(`\b[0-9]+-[0-9]+-[0-9]+(,[0-9]+-[0-9]+-[0-9]+)*\b`, "GTID")

	t.Run("OK", func(t *testing.T) {
		r := run(t, nil, p.args(p.db2, "-v")...)
		r.Want(t, 0, "REPLICATION OK: 1 connection running: connection 'node1' | 'connections'=1;;1:;0 'node1_lag'=0s;60;300;0",
			"connection 'node1': IO Yes, SQL Yes, lag 0s, master repl@")
		pt.Golden(t, "replication_ok", r, gtids, pt.Regexp(`MariaDB \S+ at`, "MariaDB VERSION at"))
	})
	t.Run("OK_PasswordFromEnvironment", func(t *testing.T) {
		args := []string{"-H", p.db2.IP, "-P", strconv.Itoa(p.db2.Port), "-u", "monitor", "--connection", "node1"}
		run(t, []string{"LABFLEET_DB_PASSWORD=" + monitorPassword}, args...).Want(t, 0, "REPLICATION OK: 1 connection running")
		run(t, []string{"MYSQL_PWD=" + monitorPassword}, args...).Want(t, 0, "REPLICATION OK: 1 connection running")
	})
	t.Run("WARNING_Lag", func(t *testing.T) {
		// A write on db2 reaches db1 an hour late: db1's lag grows.
		p.db2.Exec(t, "CREATE DATABASE lagtest")
		p.waitFor(t, p.db1.DB(t), "node2", func(s status) bool { return s.lag.Valid && s.lag.Int64 >= 2 })
		r := run(t, nil, p.args(p.db1, "-w", "1", "-c", "300")...)
		r.Want(t, 1, "REPLICATION WARNING: connection 'node2': lag ", "s (breaches -w 1) | 'connections'=1;;1:;0 'node2_lag'=")
		pt.Golden(t, "replication_warning_lag", r, gtids)
		run(t, nil, p.args(p.db1, "-w", "1", "-c", "1")...).Want(t, 2, "REPLICATION CRITICAL: connection 'node2': lag ", "(breaches -c 1)")
	})
	t.Run("CRITICAL_NoSuchConnection", func(t *testing.T) {
		r := run(t, nil, p.args(p.db2, "--connection", "nope")...)
		r.Want(t, 2, "REPLICATION CRITICAL: no replication connection 'nope' on ", "(connections: 'node1')")
		pt.Golden(t, "replication_critical_no_connection", r)
	})
	t.Run("CRITICAL_MinConnections", func(t *testing.T) {
		run(t, nil, p.args(p.db2, "--min-connections", "2")...).
			Want(t, 2, "REPLICATION CRITICAL: 1 replication connection on ", "fewer than --min-connections 2", "'connections'=1;;2:;0")
	})
	t.Run("CRITICAL_LoginRefused", func(t *testing.T) {
		r := run(t, []string{"LABFLEET_DB_PASSWORD=wrong"}, "-H", p.db2.IP, "-P", strconv.Itoa(p.db2.Port), "-u", "monitor")
		r.Want(t, 2, "refused the login as monitor (error 1045: Access denied for user 'monitor'@")
	})
	t.Run("CRITICAL_ServerDown", func(t *testing.T) {
		host, port := pt.SplitAddr(t, pt.ClosedAddr(t))
		r := run(t, nil, "-H", host, "-P", port, "-u", "monitor", "--password-file", p.pwFile)
		r.Want(t, 2, "REPLICATION CRITICAL: cannot reach MariaDB at ", "connection refused")
		pt.Golden(t, "replication_critical_down", r)
	})
	t.Run("CRITICAL_IOThreadError1045", func(t *testing.T) {
		p.db2.Exec(t, "STOP SLAVE 'node1'")
		p.db2.Exec(t, "CHANGE MASTER 'node1' TO MASTER_PASSWORD='wrong-password'")
		p.db2.Exec(t, "START SLAVE 'node1'")
		p.waitFor(t, p.db2.DB(t), "node1", func(s status) bool { return s.ioErrno == 1045 })
		r := run(t, nil, p.args(p.db2)...)
		r.Want(t, 2, "REPLICATION CRITICAL: connection 'node1': IO thread ", "(error 1045)", "'node1_lag'=U;60;300;0",
			"connection 'node1': last IO error 1045: ")
		pt.Golden(t, "replication_critical_io_1045", r, gtids, pt.Regexp(`(last IO error 1045: ).*`, "${1}MESSAGE"))
	})
	t.Run("CRITICAL_SQLThreadStopped", func(t *testing.T) {
		p.db1.Exec(t, "STOP SLAVE 'node2' SQL_THREAD")
		r := run(t, nil, p.args(p.db1)...)
		r.Want(t, 2, "REPLICATION CRITICAL: connection 'node2': SQL thread not running | ")
	})
	t.Run("UNKNOWN_NoPrivilege", func(t *testing.T) {
		r := run(t, nil, "-H", p.db2.IP, "-P", strconv.Itoa(p.db2.Port), "-u", "nopriv", "--password-file", p.pwFile)
		r.Want(t, 3, "REPLICATION UNKNOWN: cannot read SHOW ALL SLAVES STATUS from ", "REPLICA MONITOR")
	})
	t.Run("UNKNOWN_Options", func(t *testing.T) {
		run(t, nil, "-H", p.db2.IP, "--password-file", p.pwFile).Want(t, 3, "-u USER is required")
		run(t, nil, "-H", p.db2.IP, "-u", "monitor", "--password-file", "/nonexistent/pw").Want(t, 3, "cannot read --password-file")
		run(t, nil, p.args(p.db2, "-w", "")...).Want(t, 3, "empty range")
		r := run(t, nil, "-u", "monitor")
		r.Want(t, 3)
		pt.Golden(t, "replication_unknown_host", r)
	})
}
