package mariadb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestConnections_ReadsRowsByColumnName(t *testing.T) {
	m, s := fakeManager(t)
	s.addSlave(runningSlave("node2", "10.0.0.2"))
	broken := map[string]string{"Connection_name": "node3", "Master_Host": "db3.lab", "Master_User": "repl", "Master_Port": "3307",
		"Slave_IO_Running": "Connecting", "Slave_SQL_Running": "No", "Last_IO_Errno": "2003",
		"Last_IO_Error":  "error reconnecting to master 'repl@db3.lab:3307' - retry-time: 5  maximum-retries: 100000  message: Can't connect",
		"Last_SQL_Errno": "1062", "Last_SQL_Error": "Duplicate entry '1' for key 'PRIMARY'", "Using_Gtid": "Slave_Pos",
		"Gtid_IO_Pos": "3-3-10,1-1-4", "Gtid_Slave_Pos": "1-1-4,3-3-9"} // Seconds_Behind_Master NULL: a thread is stopped
	s.addSlave(broken)

	conns, err := m.Connections(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2", len(conns))
	}
	c := conns[0]
	if c.Name != "node2" || c.MasterHost != "10.0.0.2" || c.MasterPort != 3306 || c.MasterUser != "repl" || !c.Running() ||
		c.SecondsBehind == nil || *c.SecondsBehind != 0 || c.UsingGtid != "Slave_Pos" || c.GtidSlavePos != "1-1-5" {
		t.Errorf("node2 = %+v", c)
	}
	c = conns[1]
	want := Connection{Name: "node3", MasterHost: "db3.lab", MasterUser: "repl", MasterPort: 3307, IORunning: "Connecting", SQLRunning: "No",
		LastIOErrno: 2003, LastIOError: broken["Last_IO_Error"], LastSQLErrno: 1062, LastSQLError: broken["Last_SQL_Error"],
		UsingGtid: "Slave_Pos", GtidIOPos: "3-3-10,1-1-4", GtidSlavePos: "1-1-4,3-3-9"}
	if c != want {
		t.Errorf("node3 =\n %+v\nwant\n %+v", c, want)
	}
	if c.Running() {
		t.Error("node3 reported running")
	}

	// Filtered by name.
	conns, err = m.Connections(context.Background(), "node3")
	if err != nil || len(conns) != 1 || conns[0].Name != "node3" {
		t.Fatalf("Connections(node3) = %+v, %v", conns, err)
	}
	conns, err = m.Connections(context.Background(), "nosuch")
	if err != nil || len(conns) != 0 {
		t.Fatalf("Connections(nosuch) = %+v, %v", conns, err)
	}
}

func TestConnections_LagAndMissingColumns(t *testing.T) {
	m, s := fakeManager(t)
	// An older server without the GTID columns.
	s.slaveCols = []string{"Connection_name", "Master_Host", "Master_Port", "Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master"}
	s.addSlave(map[string]string{"Connection_name": "", "Master_Host": "10.0.0.2", "Master_Port": "3306", "Slave_IO_Running": "Yes",
		"Slave_SQL_Running": "Yes", "Seconds_Behind_Master": "1234"})
	conns, err := m.Connections(context.Background(), "")
	if err != nil || len(conns) != 1 {
		t.Fatalf("Connections = %+v, %v", conns, err)
	}
	c := conns[0]
	if c.SecondsBehind == nil || *c.SecondsBehind != 1234 || c.UsingGtid != "" || c.LastIOErrno != 0 || c.Name != "" {
		t.Errorf("connection %+v (lag %v)", c, c.SecondsBehind)
	}
}

func TestFacts(t *testing.T) {
	m, s := fakeManager(t)
	s.facts["server_id"], s.facts["gtid_domain_id"], s.facts["read_only"] = "4294967295", "7", "1"
	s.facts["gtid_slave_pos"] = "1-1-3,2-2-9"
	f, err := m.Facts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Facts{Version: "10.11.6-MariaDB-0+deb12u1-log", ServerID: 4294967295, DomainID: 7, LogBin: true, LogSlaveUpdates: true,
		ReadOnly: true, BinlogFormat: "MIXED", GtidBinlogPos: "0-1-7", GtidSlavePos: "1-1-3,2-2-9", GtidCurrentPos: "0-1-7",
		AutoIncIncrement: 1, AutoIncOffset: 1, GtidBinlogState: "0-1-7"}
	if f != want {
		t.Errorf("Facts =\n %+v\nwant\n %+v", f, want)
	}
	v, err := m.Ping(context.Background())
	if err != nil || v != want.Version {
		t.Errorf("Ping = %q, %v", v, err)
	}
	s.queryErr["SELECT VERSION()"] = &mysql.MySQLError{Number: 1045, Message: "Access denied for user 'root'"}
	if _, err := m.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping refused = %v; want ErrUnavailable", err)
	}
}

func TestWrap(t *testing.T) {
	m := &Manager{addr: "10.0.0.1:3306"}
	other := errors.New("something else")
	cases := []struct {
		name        string
		err         error
		unavailable bool
		want        string // the whole message
	}{
		{"nil", nil, false, ""},
		{"1045", &mysql.MySQLError{Number: 1045, Message: "Access denied for user 'root'@'10.0.0.2'"}, true,
			"MariaDB unavailable: MariaDB at 10.0.0.1:3306 refused the agent's admin credentials (Access denied for user 'root'@'10.0.0.2'); check --mariadb-user and --mariadb-password-file"},
		{"1227", &mysql.MySQLError{Number: 1227, Message: "Access denied; you need SUPER"}, true,
			"MariaDB unavailable: the agent's MariaDB user lacks a privilege for STEP (Access denied; you need SUPER); it needs SUPER or the REPLICATION/BINLOG ADMIN privileges and CREATE USER"},
		{"1044", &mysql.MySQLError{Number: 1044, Message: "Access denied to database"}, true, ""},
		{"1142", &mysql.MySQLError{Number: 1142, Message: "INSERT command denied"}, true, ""},
		{"1062", &mysql.MySQLError{Number: 1062, Message: "Duplicate entry '1'"}, false, "STEP: MariaDB error 1062: Duplicate entry '1'"},
		{"1236", &mysql.MySQLError{Number: 1236, Message: "binlog gone"}, false, "STEP: MariaDB error 1236: binlog gone"},
		{"wrapped MySQL error", fmt.Errorf("outer: %w", &mysql.MySQLError{Number: 1045, Message: "denied"}), true, ""},
		{"deadline", context.DeadlineExceeded, true, "MariaDB unavailable: cannot reach MariaDB at 10.0.0.1:3306: context deadline exceeded"},
		{"invalid connection", mysql.ErrInvalidConn, true, ""},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, true,
			"MariaDB unavailable: cannot reach MariaDB at 10.0.0.1:3306: dial tcp: connect: connection refused"},
		{"other", other, false, "STEP: something else"},
		{"cancelled", context.Canceled, false, "STEP: context canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := m.wrap("STEP", c.err)
			if c.err == nil {
				if err != nil {
					t.Fatalf("wrap(nil) = %v", err)
				}
				return
			}
			if errors.Is(err, ErrUnavailable) != c.unavailable {
				t.Errorf("wrap = %v; ErrUnavailable %v, want %v", err, !c.unavailable, c.unavailable)
			}
			if errors.Is(err, ErrConflict) || errors.Is(err, ErrPrecondition) {
				t.Errorf("wrap = %v: classified as a conflict or precondition", err)
			}
			if c.want != "" && err.Error() != c.want {
				t.Errorf("wrap =\n %v\nwant\n %s", err, c.want)
			}
		})
	}
	// Errors it does not classify stay reachable for errors.Is.
	if err := m.wrap("STEP", other); !errors.Is(err, other) {
		t.Errorf("wrap lost the cause: %v", err)
	}
}

func TestAtoi(t *testing.T) {
	for in, want := range map[string]int{"": 0, "0": 0, "3306": 3306, "4294967295": 4294967295, "12 sec": 12, "-5": 0, "x1": 0} {
		if got := atoi([]byte(in)); got != want {
			t.Errorf("atoi(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestOpen_DoesNotConnectUntilUsed(t *testing.T) {
	// Nothing listens on this port once the listener is closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m, err := Open(addr, "root", "pw")
	if err != nil {
		t.Fatalf("Open = %v; it must not connect", err)
	}
	defer m.Close()
	if m.Addr() != addr {
		t.Errorf("Addr = %q, want %q", m.Addr(), addr)
	}
	_, err = m.Ping(context.Background())
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "cannot reach MariaDB at "+addr) {
		t.Fatalf("Ping to a closed port = %v; want ErrUnavailable naming %s", err, addr)
	}
}

func TestConnectionCaughtUp(t *testing.T) {
	zero, five := int64(0), int64(5)
	base := Connection{Name: "node1", IORunning: "Yes", SQLRunning: "Yes", IOState: "Waiting for master to send event",
		GtidIOPos: "1-1-10,2-2-4", GtidSlavePos: "1-1-10,2-2-4", SecondsBehind: &zero}
	cases := []struct {
		name string
		edit func(*Connection)
		want string
	}{
		{"caught up", func(*Connection) {}, ""},
		{"SQL stopped", func(c *Connection) { c.SQLRunning = "No" }, "SQL thread No"},
		{"SQL error", func(c *Connection) { c.LastSQLErrno = 1062 }, "SQL thread Yes (error 1062)"},
		{"master unreachable, nothing left", func(c *Connection) { c.IORunning = "Connecting"; c.LastIOErrno = 2003 }, ""},
		{"master unreachable, backlog", func(c *Connection) { c.IORunning = "Connecting"; c.GtidSlavePos = "1-1-9,2-2-4" }, "1 transactions received"},
		{"still reading", func(c *Connection) { c.IOState = "Queueing master event to the relay log" }, "still reading from its master"},
		{"received, not applied", func(c *Connection) { c.GtidSlavePos = "1-1-7,2-2-4" }, "3 transactions received, not yet applied"},
		{"seconds behind", func(c *Connection) { c.SecondsBehind = &five }, "5s behind"},
	}
	for _, c := range cases {
		conn := base
		c.edit(&conn)
		ok, why := conn.CaughtUp()
		if ok != (c.want == "") || (c.want != "" && !strings.Contains(why, c.want)) {
			t.Errorf("%s: CaughtUp() = %v, %q; want %q", c.name, ok, why, c.want)
		}
	}
}
