package labtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TestMariaDB_TwoServers starts two servers the way replication tests do
// and checks what those tests rely on: settings, an empty binary log,
// root over TCP from any loopback source, a restart that keeps data, and
// a named replication connection from server 2 to server 1.
func TestMariaDB_TwoServers(t *testing.T) {
	m1 := StartMariaDB(t, MariaDBOptions{ServerID: 1, LogSlaveUpdates: true})

	// Server 2's port 3306 is taken, so it must fall back to a free one.
	ip2 := LoopbackIP()
	busy, err := net.Listen("tcp", net.JoinHostPort(ip2, "3306"))
	if err != nil {
		t.Fatal(err)
	}
	m2 := StartMariaDB(t, MariaDBOptions{ServerID: 2, IP: ip2, LogSlaveUpdates: true})
	busy.Close()

	if m1.Port != 3306 || m1.Addr != m1.IP+":3306" {
		t.Errorf("server 1 on %s (port %d), want port 3306 on its fresh IP", m1.Addr, m1.Port)
	}
	if m2.Port == 3306 || m2.IP != ip2 {
		t.Errorf("server 2 on %s, want %s with a port other than the busy 3306", m2.Addr, ip2)
	}

	t.Run("Settings", func(t *testing.T) {
		for _, m := range []*MariaDB{m1, m2} {
			db := m.DB(t)
			var id int
			if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
				t.Fatal(err)
			}
			if id != m.ServerID {
				t.Errorf("%s: @@server_id = %d, want %d", m.Addr, id, m.ServerID)
			}
			vars := globalVariables(t, db, "log_bin", "log_slave_updates", "binlog_format", "gtid_binlog_pos", "gtid_strict_mode", "performance_schema")
			want := map[string]string{"log_bin": "ON", "log_slave_updates": "ON", "binlog_format": "ROW",
				"gtid_binlog_pos": "", "gtid_strict_mode": "OFF", "performance_schema": "OFF"}
			for k, v := range want {
				if vars[k] != v {
					t.Errorf("%s: %s = %q, want %q", m.Addr, k, vars[k], v)
				}
			}
			// The account setup ran with sql_log_bin=0 and RESET MASTER:
			// a replica starting from an empty position must get nothing.
			events := rowsOf(t, db, "SHOW BINLOG EVENTS")
			for _, e := range events {
				if e["Event_type"] != "Format_desc" && e["Event_type"] != "Gtid_list" && e["Event_type"] != "Binlog_checkpoint" {
					t.Errorf("%s: unexpected event in a fresh binary log: %v", m.Addr, e)
				}
			}
		}
	})

	t.Run("RootFromAnotherLoopbackSource", func(t *testing.T) {
		src := LoopbackIP()
		c := m1.Config()
		c.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			return d.DialContext(ctx, network, addr)
		}
		conn, err := mysql.NewConnector(c)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		var user, current string
		if err := db.QueryRow("SELECT USER(), CURRENT_USER()").Scan(&user, &current); err != nil {
			t.Fatalf("root from %s to %s: %v", src, m1.Addr, err)
		}
		if user != "root@"+src || current != "root@127.%" {
			t.Errorf("USER() = %q, CURRENT_USER() = %q; want root@%s and root@127.%%", user, current, src)
		}

		// install-db's passwordless root@127.0.0.1 must be gone.
		c = m1.Config()
		c.Passwd = ""
		conn, err = mysql.NewConnector(c)
		if err != nil {
			t.Fatal(err)
		}
		nopw := sql.OpenDB(conn)
		defer nopw.Close()
		var myErr *mysql.MySQLError
		if err := nopw.Ping(); !errors.As(err, &myErr) || myErr.Number != 1045 {
			t.Errorf("root without a password: %v, want error 1045 (access denied)", err)
		}
	})

	t.Run("RestartKeepsData", func(t *testing.T) {
		m1.Exec(t, "CREATE DATABASE keep; CREATE TABLE keep.t (id INT PRIMARY KEY); INSERT INTO keep.t VALUES (7)")
		m1.Stop()
		m1.Stop() // idempotent
		if c, err := net.DialTimeout("tcp", m1.Addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s still accepts connections after Stop", m1.Addr)
		}
		m1.Start(t)
		var id int
		if err := m1.DB(t).QueryRow("SELECT id FROM keep.t").Scan(&id); err != nil || id != 7 {
			t.Fatalf("after a restart: id = %d, %v; want 7", id, err)
		}
	})

	t.Run("NamedConnectionReplicates", func(t *testing.T) {
		m1.Exec(t, `SET SESSION sql_log_bin = 0;
			CREATE USER 'repl'@'127.%' IDENTIFIED BY 'repl-pw';
			GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.%'`)
		m2.Exec(t, fmt.Sprintf(`CHANGE MASTER 'to1' TO MASTER_HOST='%s', MASTER_PORT=%d,
			MASTER_USER='repl', MASTER_PASSWORD='repl-pw', MASTER_CONNECT_RETRY=1,
			MASTER_USE_GTID=slave_pos`, m1.IP, m1.Port))
		m2.Exec(t, "START SLAVE 'to1'")
		m1.Exec(t, "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO app.t VALUES (1, 'from-1')")

		db2 := m2.DB(t)
		deadline := time.Now().Add(15 * time.Second)
		for {
			var v string
			err := db2.QueryRow("SELECT v FROM app.t WHERE id = 1").Scan(&v)
			if err == nil && v == "from-1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("row not replicated to server 2 within 15s (%v); SHOW SLAVE 'to1' STATUS: %v",
					err, rowsOf(t, db2, "SHOW SLAVE 'to1' STATUS"))
			}
			time.Sleep(50 * time.Millisecond)
		}

		st := rowsOf(t, db2, "SHOW ALL SLAVES STATUS")
		if len(st) != 1 {
			t.Fatalf("SHOW ALL SLAVES STATUS: %d rows, want 1: %v", len(st), st)
		}
		for k, v := range map[string]string{"Connection_name": "to1", "Slave_IO_Running": "Yes",
			"Slave_SQL_Running": "Yes", "Using_Gtid": "Slave_Pos", "Last_IO_Errno": "0", "Last_SQL_Errno": "0"} {
			if st[0][k] != v {
				t.Errorf("SHOW ALL SLAVES STATUS: %s = %q, want %q", k, st[0][k], v)
			}
		}
		// The restart test's table came along too: the replica started
		// from the beginning of server 1's binary log.
		var id int
		if err := db2.QueryRow("SELECT id FROM keep.t").Scan(&id); err != nil || id != 7 {
			t.Errorf("keep.t on server 2: id = %d, %v; want 7", id, err)
		}
		// Server 2 logs what it applied (log_slave_updates), so both
		// binary logs end at the same GTID, the one server 1 wrote.
		pos1 := globalVariables(t, m1.DB(t), "gtid_binlog_pos")["gtid_binlog_pos"]
		vars2 := globalVariables(t, db2, "gtid_binlog_pos", "gtid_slave_pos")
		if !strings.HasPrefix(pos1, "0-1-") || vars2["gtid_slave_pos"] != pos1 || vars2["gtid_binlog_pos"] != pos1 {
			t.Errorf("server 1 gtid_binlog_pos %q; server 2 gtid_slave_pos %q, gtid_binlog_pos %q; want all equal, 0-1-N",
				pos1, vars2["gtid_slave_pos"], vars2["gtid_binlog_pos"])
		}
	})
}

// globalVariables returns SHOW GLOBAL VARIABLES values by name.
func globalVariables(t *testing.T, db *sql.DB, names ...string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, n := range names {
		for _, r := range rowsOf(t, db, "SHOW GLOBAL VARIABLES LIKE '"+n+"'") {
			vars[r["Variable_name"]] = r["Value"]
		}
	}
	return vars
}

// rowsOf runs query and returns each row as column name -> value (NULL as
// ""), so status output is read by column name, never by position.
func rowsOf(t *testing.T, db *sql.DB, query string) []map[string]string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// TestMariaDB_NoLogBin checks that a server can run without a binary log,
// e.g. for a plain replica.
func TestMariaDB_NoLogBin(t *testing.T) {
	m := StartMariaDB(t, MariaDBOptions{ServerID: 3, NoLogBin: true})
	vars := globalVariables(t, m.DB(t), "log_bin", "log_slave_updates")
	if vars["log_bin"] != "OFF" || vars["log_slave_updates"] != "OFF" {
		t.Errorf("log_bin = %q, log_slave_updates = %q; want OFF and OFF", vars["log_bin"], vars["log_slave_updates"])
	}
}
