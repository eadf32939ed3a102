package mariadb

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/labfleet/labfleet/internal/gtid"
)

// Settings are the global variables a replicating node needs; zero values
// are left alone.
type Settings struct {
	DomainID         uint32
	AutoIncIncrement uint32
	AutoIncOffset    uint32
	BinlogFormat     string
	// IgnoreDuplicates sets gtid_ignore_duplicates ON (never OFF).
	IgnoreDuplicates bool
}

// User is the account peers replicate as.
type User struct {
	Name, Password, Host string
}

// Source is one named connection to a master.
type Source struct {
	Name, Host, User, Password string
	Port                       uint32
}

// Desired is the replication state to reach.
type Desired struct {
	Settings *Settings
	User     *User
	Sources  []Source
	// StartPos is merged into gtid_slave_pos (its domains only) before
	// the sources start; see startPos.
	StartPos string
	DryRun   bool
	Force    bool
}

// Change is one step taken (or, in a dry run, one that would be).
type Change struct {
	Action, Detail string
	Changed        bool
}

// Configure brings the server to d. It checks everything it can before it
// changes anything, and each step is idempotent, so a failed run leaves a
// state the next run repairs.
func (m *Manager) Configure(ctx context.Context, d Desired) ([]Change, error) {
	f, err := m.Facts(ctx)
	if err != nil {
		return nil, err
	}
	if !f.LogBin || !f.LogSlaveUpdates {
		return nil, fmt.Errorf("%w: log_bin is %v and log_slave_updates is %v on %s; add to the [mariadb] section of my.cnf:\n"+
			"  log_bin = mysql-bin\n  log_slave_updates = ON\n  server_id = <unique number>\nand restart MariaDB (these cannot change at run time)",
			ErrPrecondition, onOff(f.LogBin), onOff(f.LogSlaveUpdates), m.addr)
	}
	conns, err := m.Connections(ctx, "")
	if err != nil {
		return nil, err
	}
	if err := checkSources(conns, d.Sources); err != nil {
		return nil, err
	}
	var changes []Change
	if d.Settings != nil {
		cs, err := m.settings(ctx, f, conns, *d.Settings, d.DryRun)
		changes = append(changes, cs...)
		if err != nil {
			return changes, err
		}
	}
	if d.User != nil {
		c, err := m.user(ctx, *d.User, d.DryRun)
		changes = append(changes, c)
		if err != nil {
			return changes, err
		}
	}
	if d.StartPos != "" {
		c, err := m.startPos(ctx, conns, d.StartPos, d.DryRun)
		changes = append(changes, c)
		if err != nil {
			return changes, err
		}
	}
	for _, src := range d.Sources {
		c, err := m.source(ctx, conns, src, d.DryRun)
		changes = append(changes, c)
		if err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// startPos merges want into gtid_slave_pos: each domain want names gets
// want's GTID, every other domain keeps its position. Setup uses it so that
// new connections skip history that must not be replayed; it changes
// nothing when the position already holds want. gtid_slave_pos can only be
// set with every connection stopped, so the connections that were running
// are stopped for the change and started again.
func (m *Manager) startPos(ctx context.Context, conns []Connection, want string, dry bool) (Change, error) {
	c := Change{Action: "gtid_slave_pos"}
	w, err := gtid.Parse(want)
	if err != nil {
		return c, fmt.Errorf("%w: start position: %v", ErrPrecondition, err)
	}
	read := func() (gtid.List, error) {
		var s string
		if err := m.db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_slave_pos").Scan(&s); err != nil {
			return nil, m.wrap("read gtid_slave_pos", err)
		}
		return gtid.Parse(s)
	}
	// Never backwards: a position already past want's (a seeded node's,
	// from its dump) is kept, or transactions would be applied twice.
	merge := func(cur gtid.List) gtid.List {
		for _, g := range w {
			if have, ok := cur.Last(g.Domain); !ok || have.Seq < g.Seq {
				cur = cur.With(g)
			}
		}
		return cur
	}
	cur, err := read()
	if err != nil {
		return c, err
	}
	if merge(cur).String() == cur.String() {
		c.Detail = "already " + cur.String()
		return c, nil
	}
	c.Changed = true
	c.Detail = fmt.Sprintf("%q -> %q (skips the history before it)", cur.String(), merge(cur).String())
	if dry {
		return c, nil
	}
	err = m.withConnectionsStopped(ctx, conns, func() error {
		// Read again: a running connection may have applied more before it stopped.
		if cur, err = read(); err != nil {
			return err
		}
		_, err := m.db.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = ?", merge(cur).String())
		return err
	})
	return c, m.wrap("SET GLOBAL gtid_slave_pos", err)
}

// withConnectionsStopped runs fn with every connection stopped, then
// starts again those that were running.
func (m *Manager) withConnectionsStopped(ctx context.Context, conns []Connection, fn func() error) error {
	var running []string
	for _, x := range conns {
		if x.IORunning == "Yes" || x.SQLRunning == "Yes" {
			running = append(running, x.Name)
		}
	}
	if len(running) > 0 {
		if _, err := m.db.ExecContext(ctx, "STOP ALL SLAVES"); err != nil {
			return err
		}
	}
	err := fn()
	for _, name := range running {
		if _, serr := m.db.ExecContext(ctx, fmt.Sprintf("START SLAVE '%s'", esc(name))); serr != nil && err == nil {
			err = serr
		}
	}
	return err
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

// checkSources refuses desired connections that MariaDB would reject: a
// second connection name to the same host:port (ER_CONNECTION_ALREADY_EXISTS).
func checkSources(conns []Connection, want []Source) error {
	for _, s := range want {
		for _, c := range conns {
			if c.Name != s.Name && strings.EqualFold(c.MasterHost, s.Host) && c.MasterPort == s.Port {
				return fmt.Errorf("%w: connection %q already replicates from %s:%d; MariaDB allows one connection per master, "+
					"so remove it (STOP SLAVE '%s'; RESET SLAVE '%s' ALL) or name the peer %q in the inventory", ErrConflict, c.Name, s.Host, s.Port, c.Name, c.Name, c.Name)
			}
		}
	}
	return nil
}

func (m *Manager) settings(ctx context.Context, f Facts, conns []Connection, s Settings, dry bool) ([]Change, error) {
	type v struct {
		name       string
		have, want string
	}
	var vars []v
	if s.DomainID != 0 {
		vars = append(vars, v{"gtid_domain_id", fmt.Sprint(f.DomainID), fmt.Sprint(s.DomainID)})
	}
	if s.AutoIncIncrement != 0 {
		vars = append(vars, v{"auto_increment_increment", fmt.Sprint(f.AutoIncIncrement), fmt.Sprint(s.AutoIncIncrement)})
	}
	if s.AutoIncOffset != 0 {
		vars = append(vars, v{"auto_increment_offset", fmt.Sprint(f.AutoIncOffset), fmt.Sprint(s.AutoIncOffset)})
	}
	if s.BinlogFormat != "" {
		vars = append(vars, v{"binlog_format", f.BinlogFormat, strings.ToUpper(s.BinlogFormat)})
	}
	if s.IgnoreDuplicates {
		vars = append(vars, v{"gtid_ignore_duplicates", onOff(f.IgnoreDuplicates), "ON"})
	}
	var out []Change
	for _, x := range vars {
		if x.have == x.want {
			out = append(out, Change{Action: "set " + x.name, Detail: x.want + " already"})
			continue
		}
		out = append(out, Change{Action: "set " + x.name, Detail: x.have + " -> " + x.want, Changed: true})
		if dry {
			continue
		}
		q := fmt.Sprintf("SET GLOBAL %s = %s", x.name, x.want)
		if x.name == "binlog_format" {
			q = fmt.Sprintf("SET GLOBAL binlog_format = '%s'", x.want)
		}
		exec := func() error { _, err := m.db.ExecContext(ctx, q); return err }
		if x.name == "gtid_ignore_duplicates" {
			// It can change only with every connection stopped (a node
			// joining a running set has some).
			exec = func() error {
				return m.withConnectionsStopped(ctx, conns, func() error { _, err := m.db.ExecContext(ctx, q); return err })
			}
		}
		if err := exec(); err != nil {
			return out, m.wrap("SET GLOBAL "+x.name, err)
		}
	}
	return out, nil
}

// nativeHash is mysql_native_password's stored form of a password, so the
// agent can tell whether the account already has it without changing it.
func nativeHash(pw string) string {
	a := sha1.Sum([]byte(pw))
	b := sha1.Sum(a[:])
	return "*" + strings.ToUpper(hex.EncodeToString(b[:]))
}

func (m *Manager) user(ctx context.Context, u User, dry bool) (Change, error) {
	if u.Host == "" {
		u.Host = "%"
	}
	account := fmt.Sprintf("'%s'@'%s'", esc(u.Name), esc(u.Host))
	var have sql.NullString
	err := m.db.QueryRowContext(ctx, "SELECT authentication_string FROM mysql.user WHERE User = ? AND Host = ?", u.Name, u.Host).Scan(&have)
	exists := err == nil
	if err != nil && err != sql.ErrNoRows {
		return Change{Action: "replication user " + account}, m.wrap("read mysql.user", err)
	}
	c := Change{Action: "replication user " + account}
	var stmts []string
	switch {
	case !exists:
		c.Detail, c.Changed = "created", true
		stmts = append(stmts, fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s'", account, esc(u.Password)))
	case have.String != nativeHash(u.Password):
		c.Detail, c.Changed = "password reset to the one the controller holds", true
		stmts = append(stmts, fmt.Sprintf("ALTER USER %s IDENTIFIED BY '%s'", account, esc(u.Password)))
	default:
		c.Detail = "exists with the right password"
	}
	stmts = append(stmts, fmt.Sprintf("GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO %s", account))
	if dry {
		return c, nil
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return c, m.wrap("connect", err)
	}
	defer conn.Close()
	// Each node's replication account is its own: keep it out of the binlog.
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
		return c, m.wrap("SET sql_log_bin", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SET SESSION sql_log_bin = 1")
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			// The statement holds the password: name the step, not the SQL.
			return c, m.wrap("manage replication user "+account, err)
		}
	}
	return c, nil
}

// esc escapes a string for a single-quoted SQL literal.
func esc(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

// source makes the named connection replicate from src with GTID and run.
func (m *Manager) source(ctx context.Context, conns []Connection, src Source, dry bool) (Change, error) {
	c := Change{Action: fmt.Sprintf("connection '%s' from %s:%d", src.Name, src.Host, src.Port)}
	var cur *Connection
	for i := range conns {
		if conns[i].Name == src.Name {
			cur = &conns[i]
		}
	}
	reconfigure := cur == nil || !strings.EqualFold(cur.MasterHost, src.Host) || cur.MasterPort != src.Port ||
		cur.MasterUser != src.User || cur.UsingGtid != "Slave_Pos" || cur.LastIOErrno == 1045
	switch {
	case cur != nil && !reconfigure && cur.Running():
		c.Detail = "running"
		return c, nil
	case cur != nil && !reconfigure && cur.LastSQLErrno != 0:
		return c, sqlThreadError(src.Name, cur)
	case cur != nil && !reconfigure && cur.LastIOErrno == 1236:
		return c, fmt.Errorf("%w: connection '%s': %s (error 1236: the master no longer has the binlog events this replica needs, "+
			"e.g. after RESET MASTER or purged binlogs); reseed this node from %s (mariadb-dump --gtid --master-data, then SET GLOBAL gtid_slave_pos) and re-run",
			ErrConflict, src.Name, cur.LastIOError, src.Host)
	case cur != nil && !reconfigure:
		c.Detail, c.Changed = fmt.Sprintf("started (IO %s, SQL %s)", cur.IORunning, cur.SQLRunning), true
		if dry {
			return c, nil
		}
		_, err := m.db.ExecContext(ctx, fmt.Sprintf("START SLAVE '%s'", esc(src.Name)))
		return c, m.wrap("START SLAVE", err)
	}
	c.Changed = true
	if cur == nil {
		c.Detail = "created with MASTER_USE_GTID=slave_pos and started"
	} else {
		c.Detail = "reconfigured (host, port, user, password or GTID mode differed, or the master refused the password) and started"
	}
	if dry {
		return c, nil
	}
	if cur != nil {
		// CHANGE MASTER on a running connection fails (1198): stop it first.
		if _, err := m.db.ExecContext(ctx, fmt.Sprintf("STOP SLAVE '%s'", esc(src.Name))); err != nil {
			return c, m.wrap("STOP SLAVE", err)
		}
	}
	// Every option is given, since options left out keep their old values.
	q := fmt.Sprintf("CHANGE MASTER '%s' TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
		"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=5", esc(src.Name), esc(src.Host), src.Port, esc(src.User), esc(src.Password))
	if _, err := m.db.ExecContext(ctx, q); err != nil {
		return c, m.wrap(fmt.Sprintf("CHANGE MASTER '%s'", src.Name), err)
	}
	if _, err := m.db.ExecContext(ctx, fmt.Sprintf("START SLAVE '%s'", esc(src.Name))); err != nil {
		return c, m.wrap("START SLAVE", err)
	}
	return c, nil
}

// writeAs writes marker as one transaction with exactly the GTID as: the
// way to put the same GTID into every node's binlog (as MySQL admins
// inject a transaction to fix a GTID set). The marker table is made first
// outside the binlog, so that the GTID holds the INSERT alone. A node
// whose binlog already ends the domain with that GTID is left alone; one
// already past it is refused (ErrConflict), since it could not hold it.
func (m *Manager) writeAs(ctx context.Context, marker, as string) error {
	l, err := gtid.Parse(as)
	if err != nil || len(l) != 1 {
		return fmt.Errorf("%w: marker GTID %q is not one domain-server-seq", ErrPrecondition, as)
	}
	g := l[0]
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return m.wrap("connect", err)
	}
	// The session's server_id and GTID must not outlive this call on a
	// pooled connection: close it for good.
	defer conn.Close()
	defer conn.Raw(func(any) error { return driver.ErrBadConn }) // runs first: discard, do not pool
	var state string
	if err := conn.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_state").Scan(&state); err != nil {
		return m.wrap("read gtid_binlog_state", err)
	}
	if st, _ := gtid.Parse(state); st.Seq(g.Domain) >= g.Seq {
		if last, _ := st.Last(g.Domain); last == g {
			return nil // written by an earlier run
		}
		return fmt.Errorf("%w: domain %d already reached sequence %d here (someone is writing in it), so the start marker %s cannot be written; re-run setup",
			ErrConflict, g.Domain, st.Seq(g.Domain), g)
	}
	for _, q := range []string{
		"SET SESSION sql_log_bin = 0",
		"CREATE DATABASE IF NOT EXISTS labfleet",
		"CREATE TABLE IF NOT EXISTS labfleet.replication_markers (marker VARCHAR(128) PRIMARY KEY, server_id INT UNSIGNED NOT NULL, written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
		"SET SESSION sql_log_bin = 1",
		fmt.Sprintf("SET SESSION gtid_domain_id = %d, SESSION server_id = %d, SESSION gtid_seq_no = %d", g.Domain, g.Server, g.Seq),
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return m.wrap("write marker "+g.String(), err)
		}
	}
	if _, err := conn.ExecContext(ctx, "INSERT IGNORE INTO labfleet.replication_markers (marker, server_id) VALUES (?, @@GLOBAL.server_id)", marker); err != nil {
		return m.wrap("write marker "+g.String(), err)
	}
	return nil
}

// sqlThreadError explains a stopped SQL thread and what to do about it.
func sqlThreadError(name string, c *Connection) error {
	remedy := "fix the cause, then START SLAVE '" + name + "' or re-run setup"
	switch c.LastSQLErrno {
	case 1062:
		remedy = "a row written on both nodes collides (duplicate key): decide which copy wins, delete or change the other row on this node, then re-run setup; " +
			"auto_increment_increment/offset prevent this for auto-increment keys but not for keys the application chooses"
	case 1032:
		remedy = "a row the master changed does not exist here: the nodes' data differ; reseed this node from the peer"
	case 1950, 1951:
		remedy = "a GTID is out of order (gtid_strict_mode): the nodes have diverged; reseed this node from the peer"
	}
	return fmt.Errorf("%w: connection '%s': SQL thread stopped with error %d: %s; %s", ErrConflict, name, c.LastSQLErrno, c.LastSQLError, remedy)
}

// Markers writes marker (if any) and returns which of read this node has,
// proving that rows written elsewhere arrive here. With as set, the
// marker is written as exactly that GTID (see writeAs).
func (m *Manager) Markers(ctx context.Context, write string, read []string, as string) ([]string, error) {
	if write != "" && as != "" {
		if err := m.writeAs(ctx, write, as); err != nil {
			return nil, err
		}
	} else if write != "" {
		conn, err := m.db.Conn(ctx)
		if err != nil {
			return nil, m.wrap("connect", err)
		}
		defer conn.Close()
		for _, q := range []string{
			// A pooled connection keeps the session values it started with;
			// the marker must go out in this node's GTID domain.
			"SET SESSION gtid_domain_id = @@GLOBAL.gtid_domain_id",
			"CREATE DATABASE IF NOT EXISTS labfleet",
			"CREATE TABLE IF NOT EXISTS labfleet.replication_markers (marker VARCHAR(128) PRIMARY KEY, server_id INT UNSIGNED NOT NULL, written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
		} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return nil, m.wrap("create marker table", err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT IGNORE INTO labfleet.replication_markers (marker, server_id) VALUES (?, @@server_id)", write); err != nil {
			return nil, m.wrap("write marker", err)
		}
	}
	var found []string
	for _, r := range read {
		var n int
		err := m.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM labfleet.replication_markers WHERE marker = ?", r).Scan(&n)
		if err != nil {
			if strings.Contains(err.Error(), "1146") || strings.Contains(err.Error(), "1049") {
				continue // the table has not arrived yet
			}
			return nil, m.wrap("read marker", err)
		}
		if n > 0 {
			found = append(found, r)
		}
	}
	return found, nil
}
