package mariadb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// fakeServer is a MariaDB as database/sql sees it: the answers to the few
// queries the Manager makes, and a log of every statement it executes. Values
// come back as []byte, as MariaDB's text protocol sends them.
type fakeServer struct {
	mu sync.Mutex

	facts     map[string]string // @@GLOBAL variables for Facts, by short name
	slaveCols []string
	slaves    [][]driver.Value
	users     map[string]*string // "name@host" -> authentication_string (nil: NULL)
	databases []string
	markers   map[string]bool

	queryErr map[string]error // by query prefix
	execErr  map[string]error // by statement prefix
	execs    []string         // "cN: statement [args]"
	nconn    int
}

// defaultFacts is a fresh server with a binary log.
func defaultFacts() map[string]string {
	return map[string]string{"version": "10.11.6-MariaDB-0+deb12u1-log", "server_id": "1", "gtid_domain_id": "0", "log_bin": "1",
		"log_slave_updates": "1", "read_only": "0", "binlog_format": "MIXED", "gtid_binlog_pos": "0-1-7", "gtid_slave_pos": "",
		"gtid_current_pos": "0-1-7", "auto_increment_increment": "1", "auto_increment_offset": "1", "gtid_binlog_state": "0-1-7", "gtid_ignore_duplicates": "0"}
}

var factOrder = []string{"version", "server_id", "gtid_domain_id", "log_bin", "log_slave_updates", "read_only", "binlog_format",
	"gtid_binlog_pos", "gtid_slave_pos", "gtid_current_pos", "auto_increment_increment", "auto_increment_offset", "gtid_binlog_state", "gtid_ignore_duplicates"}

// slaveStatusCols are the columns of SHOW ALL SLAVES STATUS the Manager
// reads, in MariaDB's order, among some it ignores.
var slaveStatusCols = []string{"Connection_name", "Slave_SQL_State", "Slave_IO_State", "Master_Host", "Master_User", "Master_Port",
	"Connect_Retry", "Master_Log_File", "Slave_IO_Running", "Slave_SQL_Running", "Last_Errno", "Last_Error",
	"Seconds_Behind_Master", "Last_IO_Errno", "Last_IO_Error", "Last_SQL_Errno", "Last_SQL_Error", "Master_Server_Id",
	"Using_Gtid", "Gtid_IO_Pos", "Retried_transactions", "Gtid_Slave_Pos"}

func newFakeServer() *fakeServer {
	return &fakeServer{facts: defaultFacts(), slaveCols: slaveStatusCols, users: map[string]*string{}, markers: map[string]bool{},
		queryErr: map[string]error{}, execErr: map[string]error{}}
}

// addSlave adds a row to SHOW ALL SLAVES STATUS; absent columns are NULL.
func (s *fakeServer) addSlave(row map[string]string) {
	vals := make([]driver.Value, len(s.slaveCols))
	for i, c := range s.slaveCols {
		if v, ok := row[c]; ok {
			vals[i] = []byte(v)
		}
	}
	s.slaves = append(s.slaves, vals)
}

// runningSlave is a healthy connection named name from host:3306 as repl.
func runningSlave(name, host string) map[string]string {
	return map[string]string{"Connection_name": name, "Master_Host": host, "Master_User": "repl", "Master_Port": "3306",
		"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": "0", "Last_IO_Errno": "0",
		"Last_SQL_Errno": "0", "Last_IO_Error": "", "Last_SQL_Error": "", "Using_Gtid": "Slave_Pos", "Gtid_IO_Pos": "1-1-5", "Gtid_Slave_Pos": "1-1-5"}
}

func (s *fakeServer) setUser(name, host, auth string) { s.users[name+"@"+host] = &auth }

// statements returns the executed statements without their connection.
func (s *fakeServer) statements() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.execs {
		_, stmt, _ := strings.Cut(e, ": ")
		out = append(out, stmt)
	}
	return out
}

// log returns the executed statements with their connection.
func (s *fakeServer) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.execs...)
}

func (s *fakeServer) Connect(context.Context) (driver.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nconn++
	return &fakeConn{s: s, id: s.nconn}, nil
}

func (s *fakeServer) Driver() driver.Driver { return fakeDriver{} }

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("use the connector") }

type fakeConn struct {
	s  *fakeServer
	id int
}

func (c *fakeConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("fake: no prepared statements")
}
func (c *fakeConn) Close() error              { return nil }
func (c *fakeConn) Begin() (driver.Tx, error) { return nil, errors.New("fake: no transactions") }

func matchErr(m map[string]error, q string) error {
	for prefix, err := range m {
		if strings.HasPrefix(q, prefix) {
			return err
		}
	}
	return nil
}

func (c *fakeConn) ExecContext(_ context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	e := fmt.Sprintf("c%d: %s", c.id, q)
	for _, a := range args {
		e += fmt.Sprintf(" [%v]", a.Value)
	}
	s.execs = append(s.execs, e)
	if err := matchErr(s.execErr, q); err != nil {
		return nil, err
	}
	if q == "SET GLOBAL gtid_slave_pos = ?" {
		s.facts["gtid_slave_pos"] = args[0].Value.(string)
	}
	if strings.HasPrefix(q, "INSERT IGNORE INTO labfleet.replication_markers") {
		s.markers[args[0].Value.(string)] = true
	}
	return driver.RowsAffected(1), nil
}

func (c *fakeConn) QueryContext(_ context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := matchErr(s.queryErr, q); err != nil {
		return nil, err
	}
	arg := func(i int) string { return args[i].Value.(string) }
	switch {
	case strings.HasPrefix(q, "SELECT VERSION()"):
		return rows([]string{"VERSION()"}, []driver.Value{[]byte(s.facts["version"])}), nil
	case strings.HasPrefix(q, "SELECT @@version"):
		var vals []driver.Value
		var cols []string
		for _, k := range factOrder {
			cols = append(cols, "@@"+k)
			vals = append(vals, []byte(s.facts[k]))
		}
		return rows(cols, vals), nil
	case q == "SELECT @@GLOBAL.gtid_slave_pos":
		return rows([]string{"@@GLOBAL.gtid_slave_pos"}, []driver.Value{[]byte(s.facts["gtid_slave_pos"])}), nil
	case q == "SHOW ALL SLAVES STATUS":
		return rows(s.slaveCols, s.slaves...), nil
	case strings.HasPrefix(q, "SELECT authentication_string FROM mysql.user"):
		auth, ok := s.users[arg(0)+"@"+arg(1)]
		if !ok {
			return rows([]string{"authentication_string"}), nil
		}
		if auth == nil {
			return rows([]string{"authentication_string"}, []driver.Value{nil}), nil
		}
		return rows([]string{"authentication_string"}, []driver.Value{[]byte(*auth)}), nil
	case strings.HasPrefix(q, "SELECT COUNT(*) FROM labfleet.replication_markers"):
		n := "0"
		if s.markers[arg(0)] {
			n = "1"
		}
		return rows([]string{"COUNT(*)"}, []driver.Value{[]byte(n)}), nil
	case strings.HasPrefix(q, "SELECT schema_name FROM information_schema.schemata"):
		var rs [][]driver.Value
		for _, d := range s.databases {
			rs = append(rs, []driver.Value{[]byte(d)})
		}
		return rows([]string{"schema_name"}, rs...), nil
	}
	return nil, fmt.Errorf("fake: unexpected query %q", q)
}

type fakeRows struct {
	cols []string
	vals [][]driver.Value
}

func rows(cols []string, vals ...[]driver.Value) *fakeRows { return &fakeRows{cols: cols, vals: vals} }

func (r *fakeRows) Columns() []string { return r.cols }
func (r *fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if len(r.vals) == 0 {
		return io.EOF
	}
	copy(dest, r.vals[0])
	r.vals = r.vals[1:]
	return nil
}

// fakeManager is a Manager for 10.0.0.1:3306 whose pool talks to a fake server.
func fakeManager(t *testing.T) (*Manager, *fakeServer) {
	t.Helper()
	s := newFakeServer()
	db := sql.OpenDB(s)
	t.Cleanup(func() { db.Close() })
	return &Manager{db: db, addr: "10.0.0.1:3306", login: "root", password: "admin-pw"}, s
}
