package checks_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	"github.com/labfleet/labfleet/internal/pki"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

// replPair is two MariaDB servers replicating both ways over named
// connections, set up by SQL as an operator would: db2 replicates from db1
// over 'node1', db1 from db2 over 'node2'. db1's connection is delayed by
// an hour (MASTER_DELAY), so a write on db2 waits there for the delay.
// db2 offers TLS (certificates from caFile's CA); its account 'tlsmon'
// REQUIREs SSL.
type replPair struct {
	db1, db2 *labtest.MariaDB
	pwFile   string
	caFile   string
}

const monitorPassword = "monitor-pw"

// startMariaDB is labtest.StartMariaDB one server at a time, each with its
// own tmpdir. mariadbd deletes every #sql* file in its tmpdir when it
// starts, the bootstrap of mariadb-install-db included, and that bootstrap
// keeps its temporary tables in /tmp: two servers set up at once in one
// test process break each other's install ("ERROR: 1051 Unknown table
// 'mysql.tmp_user_nopasswd,...'", "Can't find file: '/tmp/#sql-temptable-...").
// Servers other processes start on /tmp at the same time still can, until
// labtest gives mariadb-install-db a --tmpdir of its own as well.
func startMariaDB(t *testing.T, o labtest.MariaDBOptions) *labtest.MariaDB {
	t.Helper()
	startMu.Lock()
	defer startMu.Unlock()
	o.Extra = append([]string{"--tmpdir=" + t.TempDir()}, o.Extra...)
	return labtest.StartMariaDB(t, o)
}

var startMu sync.Mutex

func newReplPair(t *testing.T) *replPair {
	t.Helper()
	p := &replPair{db1: startMariaDB(t, labtest.MariaDBOptions{ServerID: 1, LogSlaveUpdates: true})}
	ip2, certs := labtest.LoopbackIP(), t.TempDir()
	if _, err := pki.Init(pki.Options{Dir: certs, Hosts: []pki.Host{{Name: "db2", Addrs: []string{ip2}}}}); err != nil {
		t.Fatal(err)
	}
	p.caFile = filepath.Join(certs, "ca.crt")
	p.db2 = startMariaDB(t, labtest.MariaDBOptions{ServerID: 2, IP: ip2, LogSlaveUpdates: true, Extra: []string{
		"--ssl-ca=" + p.caFile, "--ssl-cert=" + filepath.Join(certs, "db2.crt"), "--ssl-key=" + filepath.Join(certs, "db2.key")}})
	for i, m := range []*labtest.MariaDB{p.db1, p.db2} {
		m.Exec(t, fmt.Sprintf(`SET GLOBAL gtid_domain_id = %d; SET SESSION sql_log_bin = 0;
			CREATE USER 'repl'@'127.%%' IDENTIFIED BY 'repl-pw';
			GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.%%';
			CREATE USER 'monitor'@'127.%%' IDENTIFIED BY '%[2]s';
			GRANT REPLICA MONITOR ON *.* TO 'monitor'@'127.%%';
			CREATE USER 'monitor'@'localhost' IDENTIFIED BY '%[2]s';
			GRANT SLAVE MONITOR ON *.* TO 'monitor'@'localhost';
			CREATE USER 'tlsmon'@'127.%%' IDENTIFIED BY '%[2]s' REQUIRE SSL;
			GRANT SLAVE MONITOR ON *.* TO 'tlsmon'@'127.%%';
			CREATE USER 'nopriv'@'127.%%' IDENTIFIED BY '%[2]s'`, i+1, monitorPassword))
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

// waitFor polls SHOW SLAVE 'name' STATUS until ok, for up to 30 s, and
// returns the status that was.
func (p *replPair) waitFor(t *testing.T, db *sql.DB, name string, ok func(status) bool) status {
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
			return s
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

// connections returns a reader of m's Connections status counter (logins
// attempted since it started), over one connection held open for it, so
// that reading adds no login.
func connections(t *testing.T, m *labtest.MariaDB) func() int {
	t.Helper()
	conn, err := m.DB(t).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return func() int {
		t.Helper()
		var name string
		var n int
		if err := conn.QueryRowContext(context.Background(), "SHOW GLOBAL STATUS LIKE 'Connections'").Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// lockTable holds LOCK TABLES table WRITE on m until unlock is called, so
// that m's SQL thread waits to apply a write to it: real lag, without
// MASTER_DELAY.
func lockTable(t *testing.T, m *labtest.MariaDB, table string) (unlock func()) {
	t.Helper()
	conn, err := m.DB(t).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "LOCK TABLES "+table+" WRITE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		conn.ExecContext(context.Background(), "UNLOCK TABLES")
		conn.Close()
	}
}

// waitForTable waits until table exists on m (replication brought it).
func waitForTable(t *testing.T, m *labtest.MariaDB, schema, table string) {
	t.Helper()
	db := m.DB(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", schema, table).Scan(&n); err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s.%s did not reach %s within 30s", schema, table, m.Addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// variable reads a global variable on m as root.
func variable(t *testing.T, m *labtest.MariaDB, name string) string {
	t.Helper()
	var v string
	if err := m.DB(t).QueryRow("SELECT @@GLOBAL." + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// perfValue is the number a perfdata label carries in a plugin's output.
func perfValue(t *testing.T, out, label string) int64 {
	t.Helper()
	m := regexp.MustCompile(`'` + regexp.QuoteMeta(label) + `'=([0-9]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no perfdata '%s' in:\n%s", label, out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

var gtids = pt.Regexp(`\b[0-9]+-[0-9]+-[0-9]+(,[0-9]+-[0-9]+-[0-9]+)*\b`, "GTID")

func TestCheckReplication(t *testing.T) {
	t.Parallel()
	p := newReplPair(t)
	run := func(t *testing.T, env []string, args ...string) pt.Result {
		t.Helper()
		return pt.Run(t, env, "check_replication", args...)
	}
	db1Addr := p.db1.Addr

	t.Run("OK", func(t *testing.T) {
		r := run(t, nil, p.args(p.db2, "-v")...)
		r.Want(t, 0, "REPLICATION OK: 1 connection running: connection 'node1' | 'connections'=1;;1:;0 'node1_lag'=0s;60;300;0 'node1_lag_trx'=0;;;0",
			"connection 'node1': IO Yes, SQL Yes, lag 0s, master repl@")
		pt.Golden(t, "replication_ok", r, gtids, pt.Regexp(`MariaDB \S+ at`, "MariaDB VERSION at"))
	})
	t.Run("OK_PasswordFromEnvironment", func(t *testing.T) {
		args := []string{"-H", p.db2.IP, "-P", strconv.Itoa(p.db2.Port), "-u", "monitor", "--connection", "node1"}
		run(t, []string{"LABFLEET_DB_PASSWORD=" + monitorPassword}, args...).Want(t, 0, "REPLICATION OK: 1 connection running")
		run(t, []string{"MYSQL_PWD=" + monitorPassword}, args...).Want(t, 0, "REPLICATION OK: 1 connection running")
	})
	t.Run("OK_OneLoginPerRun", func(t *testing.T) {
		// The Connections counter counts every login attempt; the
		// servers' only other clients are each other's IO threads, which
		// stay connected.
		replica, master := connections(t, p.db2), connections(t, p.db1)
		const runs = 3
		r0, m0 := replica(), master()
		for range runs {
			run(t, nil, p.args(p.db2)...).Want(t, 0, "REPLICATION OK")
		}
		if got := replica() - r0; got != runs {
			t.Errorf("%d runs logged in to the replica %d times, want %d (one login per run)", runs, got, runs)
		}
		if got := master() - m0; got != 0 {
			t.Errorf("%d runs without --master logged in to the master %d times", runs, got)
		}
		r0, m0 = replica(), master()
		for range runs {
			run(t, nil, p.args(p.db2, "--master", db1Addr)...).Want(t, 0, "REPLICATION OK", "'node1_lag_trx'=0;;;0")
		}
		if got := replica() - r0; got != runs {
			t.Errorf("%d runs with --master logged in to the replica %d times, want %d", runs, got, runs)
		}
		if got := master() - m0; got != runs {
			t.Errorf("%d runs with --master logged in to the master %d times, want %d", runs, got, runs)
		}
	})
	t.Run("OK_Socket", func(t *testing.T) {
		r := run(t, nil, "--socket", p.db2.Socket, "-u", "monitor", "--password-file", p.pwFile)
		r.Want(t, 0, "REPLICATION OK: 1 connection running: connection 'node1'")
	})
	t.Run("OK_LagWithinMasterDelay", func(t *testing.T) {
		// A write on db2 reaches db1 an hour late (MASTER_DELAY 3600):
		// db1's Seconds_Behind_Master grows, and that is the point of
		// the delay, not a problem.
		p.db2.Exec(t, "CREATE DATABASE lagtest")
		p.waitFor(t, p.db1.DB(t), "node2", func(s status) bool { return s.lag.Valid && s.lag.Int64 >= 2 })
		r := run(t, nil, p.args(p.db1, "-w", "1", "-c", "300")...)
		r.Want(t, 0, "REPLICATION OK: 1 connection running: connection 'node2' | 'connections'=1;;1:;0 'node2_lag'=0s;1;300;0 'node2_lag_trx'=1;;;0 'node2_delay'=3600s;;;0",
			"s, within MASTER_DELAY 3600s, master repl@")
		pt.Golden(t, "replication_ok_within_delay", r, gtids)
	})
	t.Run("WARNING_Lag", func(t *testing.T) {
		// db2's SQL thread waits for a table lock while db1 writes: db2
		// lags in seconds and by one transaction, received but not
		// applied.
		p.db1.Exec(t, "CREATE DATABASE locktest; CREATE TABLE locktest.t (i INT PRIMARY KEY)")
		waitForTable(t, p.db2, "locktest", "t")
		unlock := lockTable(t, p.db2, "locktest.t")
		defer unlock()
		p.db1.Exec(t, "INSERT INTO locktest.t VALUES (1)")
		p.waitFor(t, p.db2.DB(t), "node1", func(s status) bool { return s.lag.Valid && s.lag.Int64 >= 2 })

		r := run(t, nil, p.args(p.db2, "-w", "1", "-c", "300")...)
		r.Want(t, 1, "REPLICATION WARNING: connection 'node1': lag ", "s (breaches -w 1) | 'connections'=1;;1:;0 'node1_lag'=",
			"'node1_lag_trx'=1;;;0", "; 1 transaction not applied)")
		pt.Golden(t, "replication_warning_lag", r, gtids)
		run(t, nil, p.args(p.db2, "-w", "1", "-c", "1")...).Want(t, 2, "REPLICATION CRITICAL: connection 'node1': lag ", "(breaches -c 1)")

		// --connection NAME:WARN:CRIT overrides -w and -c for that connection.
		run(t, nil, p.args(p.db2, "-w", "1000", "-c", "2000", "--connection", "node1:1:300")...).
			Want(t, 1, "REPLICATION WARNING: connection 'node1': lag ", "(breaches --connection node1:1:300)", ";1;300;0 'node1_lag_trx'")
		run(t, nil, p.args(p.db2, "--connection", "node1::1")...).
			Want(t, 2, "REPLICATION CRITICAL: connection 'node1': lag ", "(breaches --connection node1::1)", ";60;1;0 'node1_lag_trx'")

		// The lag in transactions: against what was received, or with
		// --master against the master's position in its domain.
		run(t, nil, p.args(p.db2, "-w", "1000", "-c", "2000", "--trx-warning", "0")...).
			Want(t, 1, "REPLICATION WARNING: connection 'node1': 1 transaction received but not applied (breaches --trx-warning 0)", "'node1_lag_trx'=1;0;;0")
		r = run(t, nil, p.args(p.db2, "-w", "1000", "-c", "2000", "--master", db1Addr, "--trx-critical", "0")...)
		r.Want(t, 2, "REPLICATION CRITICAL: connection 'node1': 1 transaction behind the master (breaches --trx-critical 0)",
			"'node1_lag_trx'=1;;0;0", "connection 'node1': the master "+db1Addr+" is at 1-1-")
		pt.Golden(t, "replication_critical_trx_master", r, gtids)
	})
	t.Run("WARNING_LagBeyondMasterDelay", func(t *testing.T) {
		// With a 1 s delay, db1 applies the pending write at once; then
		// a lock holds a second one back: the lag beyond the delay is
		// what -w judges.
		p.db1.Exec(t, "STOP SLAVE 'node2'; CHANGE MASTER 'node2' TO MASTER_DELAY=1; START SLAVE 'node2'")
		p.db2.Exec(t, "CREATE TABLE lagtest.t (i INT PRIMARY KEY)")
		waitForTable(t, p.db1, "lagtest", "t")
		unlock := lockTable(t, p.db1, "lagtest.t")
		defer unlock()
		p.db2.Exec(t, "INSERT INTO lagtest.t VALUES (1)")
		before := p.waitFor(t, p.db1.DB(t), "node2", func(s status) bool { return s.lag.Valid && s.lag.Int64 >= 5 })
		r := run(t, nil, p.args(p.db1, "-w", "2", "-c", "300")...)
		after := p.waitFor(t, p.db1.DB(t), "node2", func(status) bool { return true })
		r.Want(t, 1, "REPLICATION WARNING: connection 'node2': lag ", "s beyond MASTER_DELAY 1s (breaches -w 2)", "'node2_delay'=1s;;;0")
		if v := perfValue(t, r.Out, "node2_lag"); v < before.lag.Int64-1 || v > after.lag.Int64-1 {
			t.Errorf("'node2_lag'=%d, want Seconds_Behind_Master (%d..%d) less the 1 s delay", v, before.lag.Int64, after.lag.Int64)
		}
	})
	t.Run("CRITICAL_NoSuchConnection", func(t *testing.T) {
		r := run(t, nil, p.args(p.db2, "--connection", "nope")...)
		r.Want(t, 2, "REPLICATION CRITICAL: no replication connection 'nope' on ", "(connections: 'node1')")
		pt.Golden(t, "replication_critical_no_connection", r)
		run(t, nil, p.args(p.db2, "--connection", "node1", "--connection", "nope:10:20")...).
			Want(t, 2, "REPLICATION CRITICAL: no replication connection 'nope' on ", "'connections'=1;;1:;0 'node1_lag'=0s;60;300;0")
	})
	t.Run("CRITICAL_MinConnections", func(t *testing.T) {
		run(t, nil, p.args(p.db2, "--min-connections", "2")...).
			Want(t, 2, "REPLICATION CRITICAL: 1 replication connection on ", "fewer than --min-connections 2", "'connections'=1;;2:;0")
	})
	t.Run("CRITICAL_LoginRefused", func(t *testing.T) {
		r := run(t, []string{"LABFLEET_DB_PASSWORD=wrong"}, "-H", p.db2.IP, "-P", strconv.Itoa(p.db2.Port), "-u", "monitor")
		r.Want(t, 2, "refused the login as monitor (error 1045: Access denied for user 'monitor'@")
	})
	t.Run("TLS", func(t *testing.T) {
		tlsArgs := func(extra ...string) []string {
			return append([]string{"-H", p.db2.IP, "-P", strconv.Itoa(p.db2.Port), "-u", "tlsmon", "--password-file", p.pwFile}, extra...)
		}
		// An account that REQUIREs SSL is refused without TLS, with the
		// same error as a wrong password: the message says to try --tls.
		run(t, nil, tlsArgs()...).Want(t, 2, "refused the login as tlsmon (error 1045: ", "add --tls if the account REQUIREs SSL")
		run(t, nil, tlsArgs("--tls-ca", p.caFile)...).Want(t, 0, "REPLICATION OK: 1 connection running: connection 'node1'")
		run(t, nil, tlsArgs("--tls")...).Want(t, 2, "REPLICATION CRITICAL: cannot verify the TLS certificate of MariaDB at ", "give its CA with --tls-ca")
		run(t, nil, "-H", p.db1.IP, "-P", strconv.Itoa(p.db1.Port), "-u", "monitor", "--password-file", p.pwFile, "--tls").
			Want(t, 2, "REPLICATION CRITICAL: MariaDB at "+db1Addr+" does not offer TLS")
	})
	t.Run("CRITICAL_ServerDown", func(t *testing.T) {
		host, port := pt.SplitAddr(t, pt.ClosedAddr(t))
		r := run(t, nil, "-H", host, "-P", port, "-u", "monitor", "--password-file", p.pwFile)
		r.Want(t, 2, "REPLICATION CRITICAL: cannot reach MariaDB at ", "connection refused")
		pt.Golden(t, "replication_critical_down", r)
	})
	t.Run("WARNING_MasterUnreachable", func(t *testing.T) {
		closed := pt.ClosedAddr(t)
		r := run(t, nil, p.args(p.db2, "--master", closed)...)
		r.Want(t, 1, "REPLICATION WARNING: cannot read the master's position (cannot reach MariaDB at "+closed, "counted against what was received")
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
		// The message names the monitoring privilege and the GRANT for
		// this very account, not an admin's privileges.
		r := run(t, nil, "-H", p.db2.IP, "-P", strconv.Itoa(p.db2.Port), "-u", "nopriv", "--password-file", p.pwFile)
		r.Want(t, 3, "REPLICATION UNKNOWN: cannot read SHOW ALL SLAVES STATUS from ", "REPLICA MONITOR",
			"a monitoring account needs only the SLAVE MONITOR privilege (alias REPLICA MONITOR): GRANT SLAVE MONITOR ON *.* TO 'nopriv'@'127.%'")
		for _, wrong := range []string{"ADMIN", "CREATE USER", "agent"} {
			if strings.Contains(r.Out, wrong) {
				t.Errorf("the privilege message mentions %q:\n%s", wrong, r.Out)
			}
		}
		pt.Golden(t, "replication_unknown_privilege", r)
	})
	t.Run("UNKNOWN_Options", func(t *testing.T) {
		run(t, nil, "-H", p.db2.IP, "--password-file", p.pwFile).Want(t, 3, "-u USER is required")
		run(t, nil, "-H", p.db2.IP, "-u", "monitor", "--password-file", "/nonexistent/pw").Want(t, 3, "cannot read --password-file")
		run(t, nil, p.args(p.db2, "-w", "")...).Want(t, 3, "empty range")
		run(t, nil, p.args(p.db2, "--connection", "node1:60")...).Want(t, 3, `--connection "node1:60": want NAME or NAME:WARN:CRIT`)
		run(t, nil, p.args(p.db2, "--connection", "node1:x:300")...).Want(t, 3, `WARN "x" is not a number of seconds`)
		run(t, nil, p.args(p.db2, "--connection", "node1", "--connection", "node1:1:2")...).Want(t, 3, "connection 'node1' is named twice")
		run(t, nil, p.args(p.db2, "--socket", p.db2.Socket)...).Want(t, 3, "-H and --socket exclude each other")
		run(t, nil, "--socket", p.db2.Socket, "-u", "monitor", "--tls").Want(t, 3, "--tls applies to -H")
		run(t, nil, p.args(p.db2, "--tls-cert", p.caFile)...).Want(t, 3, "--tls-cert and --tls-key go together")
		run(t, nil, p.args(p.db2, "--tls-ca", "/nonexistent/ca")...).Want(t, 3, "cannot read --tls-ca")
		run(t, nil, p.args(p.db2, "--legacy-domain", "zero")...).Want(t, 3, `--legacy-domain "zero"`)
		run(t, nil, p.args(p.db2, "--master", "db1:0")...).Want(t, 3, `--master "db1:0": want HOST or HOST:PORT`)
		run(t, nil, p.args(p.db2, "--trx-warning", "x")...).Want(t, 3, "invalid range")
		r := run(t, nil, "-u", "monitor")
		r.Want(t, 3)
		pt.Golden(t, "replication_unknown_host", r)
	})
}

// TestCheckReplication_Errant checks --check-errant on servers set up the
// ordinary way (FieldState: each has written its own domain-0 history
// before replication), replicating one way: r from m over 'm'.
// fieldPair is a master (server_id id, domain 1) and its replica (id+1,
// domain 2), both set up the ordinary way (their own domain-0 history),
// the replica started at the master's current position, and a 'monitor'
// account with grants on both; it returns them and the password file.
func fieldPair(t *testing.T, id int, grants string) (m, rp *labtest.MariaDB, pwFile string) {
	t.Helper()
	m = startMariaDB(t, labtest.MariaDBOptions{ServerID: id, LogSlaveUpdates: true, FieldState: true})
	rp = startMariaDB(t, labtest.MariaDBOptions{ServerID: id + 1, LogSlaveUpdates: true, FieldState: true})
	for i, s := range []*labtest.MariaDB{m, rp} {
		s.Exec(t, fmt.Sprintf(`SET GLOBAL gtid_domain_id = %d; SET SESSION sql_log_bin = 0;
			CREATE USER 'repl'@'127.%%' IDENTIFIED BY 'repl-pw';
			GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.%%';
			CREATE USER 'monitor'@'127.%%' IDENTIFIED BY '%s';
			GRANT %s ON *.* TO 'monitor'@'127.%%'`, i+1, monitorPassword, grants))
	}
	// Start from m's current position: rp has its own domain-0 history,
	// and replaying m's would collide with it.
	rp.Exec(t, fmt.Sprintf(`SET GLOBAL gtid_slave_pos = '%s';
		CHANGE MASTER 'm' TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='repl', MASTER_PASSWORD='repl-pw',
		MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos; START SLAVE 'm'`, variable(t, m, "gtid_binlog_pos"), m.IP, m.Port))
	pwFile = filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(monitorPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return m, rp, pwFile
}

func TestCheckReplication_Errant(t *testing.T) {
	t.Parallel()
	m, rp, pw := fieldPair(t, 11, "SLAVE MONITOR")
	m.Exec(t, "CREATE DATABASE app; CREATE TABLE app.t (i INT PRIMARY KEY); INSERT INTO app.t VALUES (1)")
	waitForTable(t, rp, "app", "t")
	args := func(extra ...string) []string {
		return append([]string{"-H", rp.IP, "-P", strconv.Itoa(rp.Port), "-u", "monitor", "--password-file", pw, "--check-errant"}, extra...)
	}
	run := func(t *testing.T, args ...string) pt.Result {
		t.Helper()
		return pt.Run(t, nil, "check_replication", args...)
	}
	legacy := regexp.MustCompile(`\b0-12-[0-9]+\b`).FindString(variable(t, rp, "gtid_binlog_state"))
	if legacy == "" {
		t.Fatalf("r's gtid_binlog_state %q lacks its own domain-0 history (FieldState)", variable(t, rp, "gtid_binlog_state"))
	}

	t.Run("OK_SetupHistoryIsNotErrant", func(t *testing.T) {
		r := run(t, args("--master", m.Addr)...)
		r.Want(t, 0, "REPLICATION OK: 1 connection running: connection 'm'", "'m_lag_trx'=0;;;0 'errant'=0;;0;0",
			"no errant transactions: gtid_binlog_state ", "has none by server_id 12 outside domain 2 (legacy domains left out: 0)",
			"not ahead of the master "+m.Addr+" in its domain 1")
		pt.Golden(t, "replication_ok_errant", r, gtids)
	})
	t.Run("CRITICAL_LegacyDomainNotLeftOut", func(t *testing.T) {
		run(t, args("--legacy-domain", "")...).
			Want(t, 2, "REPLICATION CRITICAL: errant transactions on "+rp.Addr+": "+legacy+" (written by this server, server_id 12, outside its gtid_domain_id 2)")
	})
	t.Run("CRITICAL_Errant", func(t *testing.T) {
		// A write on the replica in the master's domain 1.
		rp.Exec(t, "SET SESSION gtid_domain_id = 1; INSERT INTO app.t VALUES (99)")
		errant := regexp.MustCompile(`\b1-12-[0-9]+\b`).FindString(variable(t, rp, "gtid_binlog_state"))
		if errant == "" {
			t.Fatalf("the errant write is not in r's gtid_binlog_state %q", variable(t, rp, "gtid_binlog_state"))
		}
		run(t, args()...).Want(t, 2, "REPLICATION CRITICAL: errant transactions on "+rp.Addr+": "+errant+" (written by this server", "'errant'=1;;0;0")
		r := run(t, args("--master", m.Addr)...)
		r.Want(t, 2, "errant transactions on "+rp.Addr+": "+errant,
			rp.Addr+" is ahead of its master "+m.Addr+" in the master's domain 1: its binlog has "+errant+", the master's 1-11-")
		pt.Golden(t, "replication_critical_errant", r, gtids)
		// Leaving domain 1 out, as a legacy domain, silences both rules.
		run(t, args("--master", m.Addr, "--legacy-domain", "0,1")...).
			Want(t, 0, "REPLICATION OK", "the master's domain 1 is a legacy domain: not compared")
	})
}

// TestCheckReplication_Data: --check-data finds a row changed on the
// replica outside the binlog, which no thread state or GTID shows.
func TestCheckReplication_Data(t *testing.T) {
	t.Parallel()
	m, rp, pw := fieldPair(t, 21, "SLAVE MONITOR, SELECT")
	m.Exec(t, "CREATE DATABASE app; CREATE TABLE app.t (i INT PRIMARY KEY, v VARCHAR(8)); INSERT INTO app.t VALUES (1, 'a'), (2, 'b')")
	m.Exec(t, "CREATE TABLE app.log (line VARCHAR(8)); INSERT INTO app.log VALUES ('x')") // no primary key
	waitForTable(t, rp, "app", "log")
	args := []string{"-H", rp.IP, "-P", strconv.Itoa(rp.Port), "-u", "monitor", "--password-file", pw, "--master", m.Addr, "--check-data"}
	// The last row may still be on its way: the plugin then does not compare.
	var r pt.Result
	for i := 0; i < 50; i++ {
		if r = pt.Run(t, nil, "check_replication", args...); strings.Contains(r.Out, "data: 2 tables identical") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.Want(t, 0, "REPLICATION OK", "data: 2 tables identical to the master "+m.Addr, "'tables_differing'=0;;0;0")

	rp.Exec(t, "SET SESSION sql_log_bin = 0; UPDATE app.t SET v = 'changed' WHERE i = 2")
	pt.Run(t, nil, "check_replication", args...).
		Want(t, 2, "REPLICATION CRITICAL: data differs from the master "+m.Addr+": app.t (2 rows, checksum ", "'tables_differing'=1;;0;0")

	pt.Run(t, nil, "check_replication", "-H", rp.IP, "-u", "monitor", "--password-file", pw, "--check-data").
		Want(t, 3, "--check-data compares with the master: give --master HOST[:PORT]")
}
