// Package mariadb is the agent's side of MariaDB replication: it reads
// the server's replication facts and every named connection, and brings the
// server to a desired state (global settings, the replication account,
// one named connection per peer) idempotently: what already matches is left
// alone, and what drifted is repaired.
//
// It never runs RESET MASTER, never drops data and never logs passwords.
// Managing the replication account happens with sql_log_bin=0, so that each
// node's account is its own and nothing about it replicates.
//
// labagent runs it against its node's server; check_replication reads the
// same facts with it, so the plugin and the agent judge a connection alike.
package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/labfleet/labfleet/internal/gtid"
)

// Errors the service maps to gRPC codes.
var (
	// ErrUnavailable: the server cannot be reached or refuses the agent.
	ErrUnavailable = errors.New("MariaDB unavailable")
	// ErrPrecondition: the server is not set up for replication (needs my.cnf and a restart).
	ErrPrecondition = errors.New("MariaDB is not ready for replication")
	// ErrConflict: a connection is broken in a way a re-run cannot fix without --force.
	ErrConflict = errors.New("replication needs attention")
)

// Manager manages one MariaDB server.
type Manager struct {
	db              *sql.DB
	addr            string
	login, password string // for mariadb-dump and mariadb when seeding
}

// Open prepares a connection pool to addr (host:port) as user. It does
// not connect yet; Ping or any call reports an unreachable server.
func Open(addr, user, password string) (*Manager, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", addr, user, password
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, 30*time.Second, 30*time.Second
	cfg.ParseTime = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("cannot set up MariaDB client: %w", err)
	}
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	return &Manager{db: db, addr: addr, login: user, password: password}, nil
}

// Close closes the pool.
func (m *Manager) Close() error { return m.db.Close() }

// Addr is the server's address.
func (m *Manager) Addr() string { return m.addr }

// wrap classifies driver errors: connection and authentication failures
// are ErrUnavailable with a hint; others keep MariaDB's message.
func (m *Manager) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1045:
			return fmt.Errorf("%w: MariaDB at %s refused the agent's admin credentials (%s); check --mariadb-user and --mariadb-password-file", ErrUnavailable, m.addr, me.Message)
		case 1227, 1044, 1142:
			return fmt.Errorf("%w: the agent's MariaDB user lacks a privilege for %s (%s); it needs SUPER or the REPLICATION/BINLOG ADMIN privileges and CREATE USER", ErrUnavailable, what, me.Message)
		}
		return fmt.Errorf("%s: MariaDB error %d: %s", what, me.Number, me.Message)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, mysql.ErrInvalidConn) || strings.Contains(err.Error(), "dial tcp") || strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("%w: cannot reach MariaDB at %s: %v", ErrUnavailable, m.addr, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Ping reports the server's version.
func (m *Manager) Ping(ctx context.Context) (string, error) {
	var v string
	if err := m.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return "", m.wrap("ping", err)
	}
	return v, nil
}

// Facts are the server variables replication depends on.
type Facts struct {
	Version                                     string
	ServerID, DomainID                          uint32
	LogBin, LogSlaveUpdates, ReadOnly           bool
	BinlogFormat                                string
	GtidBinlogPos, GtidSlavePos, GtidCurrentPos string
	AutoIncIncrement, AutoIncOffset             uint32
	// GtidBinlogState has the last GTID of every domain and server.
	GtidBinlogState  string
	IgnoreDuplicates bool
}

// Facts reads the server's replication variables.
func (m *Manager) Facts(ctx context.Context) (Facts, error) {
	var f Facts
	// @@GLOBAL: several of these also have a session value, which a pooled
	// connection would report instead of the server's.
	err := m.db.QueryRowContext(ctx, `SELECT @@version, @@GLOBAL.server_id, @@GLOBAL.gtid_domain_id, @@GLOBAL.log_bin,
		@@GLOBAL.log_slave_updates, @@GLOBAL.read_only, @@GLOBAL.binlog_format, @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_slave_pos,
		@@GLOBAL.gtid_current_pos, @@GLOBAL.auto_increment_increment, @@GLOBAL.auto_increment_offset, @@GLOBAL.gtid_binlog_state, @@GLOBAL.gtid_ignore_duplicates`).Scan(&f.Version, &f.ServerID, &f.DomainID, &f.LogBin,
		&f.LogSlaveUpdates, &f.ReadOnly, &f.BinlogFormat, &f.GtidBinlogPos, &f.GtidSlavePos, &f.GtidCurrentPos,
		&f.AutoIncIncrement, &f.AutoIncOffset, &f.GtidBinlogState, &f.IgnoreDuplicates)
	return f, m.wrap("read server variables", err)
}

// Connection is one row of SHOW ALL SLAVES STATUS, read by column name.
type Connection struct {
	Name, MasterHost, MasterUser string
	MasterPort                   uint32
	IORunning, SQLRunning        string
	SecondsBehind                *int64
	LastIOErrno, LastSQLErrno    uint32
	LastIOError, LastSQLError    string
	UsingGtid                    string
	GtidIOPos, GtidSlavePos      string
	// IOState is Slave_IO_State: "Waiting for master to send event" once
	// the IO thread has read all the master has.
	IOState string
}

// Running reports whether both threads run.
func (c Connection) Running() bool { return c.IORunning == "Yes" && c.SQLRunning == "Yes" }

// ioIdle is Slave_IO_State when the IO thread has read everything its
// master has written and waits for more.
const ioIdle = "Waiting for master to send event"

// CaughtUp reports whether the connection has nothing of its master's
// left to apply that it could apply, from this server's own view: the SQL
// thread runs without error and has applied every GTID received, and the
// IO thread has read all the master has (it waits for more). A master that
// cannot be reached (the IO thread connecting, or failing to) leaves
// nothing to catch up with: the server has all it can have, and holding it
// out would leave no server at all when its master is the one that died;
// that is caught up, and why says so. Otherwise why says what is left, for
// HAProxy's agent-check comment and the logs.
func (c Connection) CaughtUp() (bool, string) {
	got, err1 := gtid.Parse(c.GtidIOPos)
	applied, err2 := gtid.Parse(c.GtidSlavePos)
	if err1 != nil || err2 != nil {
		return false, fmt.Sprintf("connection '%s': unreadable GTID positions", c.Name)
	}
	backlog := gtid.Behind(applied, got)
	switch {
	case c.SQLRunning != "Yes" || c.LastSQLErrno != 0:
		return false, fmt.Sprintf("connection '%s': SQL thread %s (error %d), %d transactions received, not applied", c.Name, c.SQLRunning, c.LastSQLErrno, backlog)
	case backlog > 0:
		return false, fmt.Sprintf("connection '%s': %d transactions received, not yet applied", c.Name, backlog)
	case c.IORunning != "Yes" || c.LastIOErrno != 0:
		return true, fmt.Sprintf("connection '%s': its master is unreachable (IO %s, error %d); everything received is applied", c.Name, c.IORunning, c.LastIOErrno)
	case c.IOState != ioIdle:
		return false, fmt.Sprintf("connection '%s': still reading from its master (%s)", c.Name, c.IOState)
	}
	if c.SecondsBehind != nil && *c.SecondsBehind > 0 {
		return false, fmt.Sprintf("connection '%s': %ds behind", c.Name, *c.SecondsBehind)
	}
	return true, ""
}

// CaughtUp reports whether every connection has applied all its master
// has written (see Connection.CaughtUp); a server without connections has
// nothing to apply. labagent's agent-check asks it.
func (m *Manager) CaughtUp(ctx context.Context) (bool, string, error) {
	conns, err := m.Connections(ctx, "")
	if err != nil {
		return false, "", err
	}
	var notes []string
	for _, c := range conns {
		ok, why := c.CaughtUp()
		if !ok {
			return false, why, nil
		}
		if why != "" {
			notes = append(notes, why)
		}
	}
	return true, strings.Join(notes, "; "), nil
}

// Connections lists every named connection (or only name).
func (m *Manager) Connections(ctx context.Context, name string) ([]Connection, error) {
	rows, err := m.db.QueryContext(ctx, "SHOW ALL SLAVES STATUS")
	if err != nil {
		return nil, m.wrap("SHOW ALL SLAVES STATUS", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, m.wrap("SHOW ALL SLAVES STATUS", err)
	}
	var out []Connection
	for rows.Next() {
		raw := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, m.wrap("SHOW ALL SLAVES STATUS", err)
		}
		col := map[string]sql.RawBytes{}
		for i, c := range cols {
			col[c] = raw[i]
		}
		c := Connection{
			Name: string(col["Connection_name"]), MasterHost: string(col["Master_Host"]), MasterUser: string(col["Master_User"]),
			MasterPort: uint32(atoi(col["Master_Port"])), IORunning: string(col["Slave_IO_Running"]), SQLRunning: string(col["Slave_SQL_Running"]),
			LastIOErrno: uint32(atoi(col["Last_IO_Errno"])), LastIOError: string(col["Last_IO_Error"]),
			LastSQLErrno: uint32(atoi(col["Last_SQL_Errno"])), LastSQLError: string(col["Last_SQL_Error"]),
			UsingGtid: string(col["Using_Gtid"]), GtidIOPos: string(col["Gtid_IO_Pos"]), GtidSlavePos: string(col["Gtid_Slave_Pos"]),
			IOState: string(col["Slave_IO_State"]),
		}
		if v := col["Seconds_Behind_Master"]; v != nil {
			n := int64(atoi(v))
			c.SecondsBehind = &n
		}
		if name == "" || c.Name == name {
			out = append(out, c)
		}
	}
	return out, m.wrap("SHOW ALL SLAVES STATUS", rows.Err())
}

func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
