package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TableSum is one table's checksum and row count, or why there is none.
type TableSum struct {
	Database, Table string
	Checksum, Rows  uint64
	HasPrimaryKey   bool
	// Err says why the table could not be checksummed; empty on success.
	Err string
}

// Name is db.table.
func (t TableSum) Name() string { return t.Database + "." + t.Table }

// Checksums is a snapshot of a server's own data.
type Checksums struct {
	Tables []TableSum
	// Before and After are gtid_binlog_pos around the checksums: equal
	// means nothing was written here (through the binlog) meanwhile.
	Before, After string
	Databases     []string
}

// Checksum runs CHECKSUM TABLE and COUNT(*) on every base table of dbs
// (every database of the server's own when dbs is empty). It changes
// nothing. A table locked by another session for longer than lockWait, or
// one the agent may not read, is reported in its TableSum rather than
// failing the whole call, so that the caller can name it; a lost
// connection fails the call.
func (m *Manager) Checksum(ctx context.Context, dbs []string, lockWait time.Duration) (*Checksums, error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, m.wrap("connect", err)
	}
	defer conn.Close()
	return m.checksum(ctx, conn, dbs, lockWait)
}

// ChecksumConn is Checksum over a connection the caller holds (the Nagios
// plugin logs in once per run); addr names the server in errors. It
// changes the session's lock_wait_timeout.
func ChecksumConn(ctx context.Context, conn *sql.Conn, addr string, dbs []string, lockWait time.Duration) (*Checksums, error) {
	return (&Manager{addr: addr}).checksum(ctx, conn, dbs, lockWait)
}

func (m *Manager) checksum(ctx context.Context, conn *sql.Conn, dbs []string, lockWait time.Duration) (*Checksums, error) {
	if lockWait <= 0 {
		lockWait = 10 * time.Second
	}
	if len(dbs) == 0 {
		var err error
		if dbs, err = m.userDatabases(ctx, conn); err != nil {
			return nil, err
		}
	}
	out := &Checksums{Databases: dbs}
	var err error
	// Whole seconds: lock_wait_timeout takes an integer.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", max(1, int(lockWait.Seconds())))); err != nil {
		return nil, m.wrap("SET lock_wait_timeout", err)
	}
	pos := func() (string, error) {
		var p string
		err := conn.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&p)
		return p, m.wrap("read gtid_binlog_pos", err)
	}
	if out.Before, err = pos(); err != nil {
		return nil, err
	}
	if len(dbs) > 0 {
		tables, err := m.tables(ctx, conn, dbs)
		if err != nil {
			return nil, err
		}
		for _, t := range tables {
			if err := m.checksumTable(ctx, conn, &t, lockWait); err != nil {
				return nil, err
			}
			out.Tables = append(out.Tables, t)
		}
	}
	if out.After, err = pos(); err != nil {
		return nil, err
	}
	return out, nil
}

// tables lists the base tables of dbs with whether each has a primary key.
func (m *Manager) tables(ctx context.Context, conn *sql.Conn, dbs []string) ([]TableSum, error) {
	marks := strings.TrimSuffix(strings.Repeat("?,", len(dbs)), ",")
	args := make([]any, len(dbs))
	for i, d := range dbs {
		args[i] = d
	}
	rows, err := conn.QueryContext(ctx, `SELECT t.table_schema, t.table_name,
		EXISTS (SELECT 1 FROM information_schema.table_constraints c WHERE c.table_schema = t.table_schema
			AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY')
		FROM information_schema.tables t WHERE t.table_type = 'BASE TABLE' AND t.table_schema IN (`+marks+`)
		ORDER BY t.table_schema, t.table_name`, args...)
	if err != nil {
		return nil, m.wrap("list tables", err)
	}
	defer rows.Close()
	var out []TableSum
	for rows.Next() {
		var t TableSum
		if err := rows.Scan(&t.Database, &t.Table, &t.HasPrimaryKey); err != nil {
			return nil, m.wrap("list tables", err)
		}
		out = append(out, t)
	}
	return out, m.wrap("list tables", rows.Err())
}

// quoteIdent quotes a database or table name for SQL.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// checksumTable fills t; table-level problems go into t.Err. MariaDB
// reports some of them (a lock wait that timed out) not as an error but
// as a NULL checksum with a warning, so both paths are read.
func (m *Manager) checksumTable(ctx context.Context, conn *sql.Conn, t *TableSum, lockWait time.Duration) error {
	name := quoteIdent(t.Database) + "." + quoteIdent(t.Table)
	var tbl string
	var sum sql.NullInt64
	err := conn.QueryRowContext(ctx, "CHECKSUM TABLE "+name).Scan(&tbl, &sum)
	if err == nil && !sum.Valid {
		code, msg := lastWarning(ctx, conn)
		t.Err = tableProblem(code, msg, t.Database, lockWait)
		return nil
	}
	if err == nil {
		t.Checksum = uint64(sum.Int64)
		err = conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+name).Scan(&t.Rows)
	}
	var me *mysql.MySQLError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me):
		t.Err = tableProblem(int(me.Number), me.Message, t.Database, lockWait)
		return nil
	}
	return m.wrap("CHECKSUM TABLE "+t.Name(), err)
}

// lastWarning is the session's last warning (code 0 when there is none).
func lastWarning(ctx context.Context, conn *sql.Conn) (int, string) {
	rows, err := conn.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return 0, ""
	}
	defer rows.Close()
	code, msg := 0, ""
	for rows.Next() {
		var level string
		_ = rows.Scan(&level, &code, &msg)
	}
	return code, msg
}

// tableProblem says what a MariaDB error or warning means for one table.
func tableProblem(code int, msg, db string, lockWait time.Duration) string {
	switch code {
	case 1205, 1213:
		return fmt.Sprintf("locked by another session for longer than %s (lock_wait_timeout); retry when the lock is released, or raise --lock-wait", lockWait)
	case 1142, 1143, 1044:
		return fmt.Sprintf("the agent's MariaDB user may not read it (%s); CHECKSUM TABLE needs SELECT: GRANT SELECT ON %s.* TO the agent's user", msg, quoteIdent(db))
	case 0:
		return "CHECKSUM TABLE returned NULL without a reason (the table was dropped meanwhile, or its engine cannot checksum)"
	}
	return fmt.Sprintf("MariaDB error %d: %s", code, msg)
}
