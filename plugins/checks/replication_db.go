//go:build !labfleet_lean

package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/labfleet/labfleet/internal/gtid"
	"github.com/labfleet/labfleet/internal/mariadb"
	"github.com/labfleet/labfleet/plugins/pluginkit"
)

// check_replication talks to MariaDB itself rather than through
// internal/mariadb, whose Manager keeps a pool for the agent: here every
// server gets exactly one login per run, and every message speaks of this
// plugin's options.

// dbTarget is where and as whom to log in.
type dbTarget struct {
	network, addr  string // "tcp" and HOST:PORT, or "unix" and a socket path
	user, password string
	tls            *tls.Config // nil: plaintext
}

// session is one login to one server.
type session struct {
	db   *sql.DB
	conn *sql.Conn
}

// silent keeps the driver from writing to stderr, which Nagios does not
// read and plugins must leave empty.
type silent struct{}

func (silent) Print(...any) {}

// open logs in once. Its error says what failed in terms of this plugin's
// options; a target that is down or refuses the login is CRITICAL.
func open(ctx context.Context, t dbTarget) (*session, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = t.network, t.addr, t.user, t.password
	cfg.TLS = t.tls
	cfg.Logger = silent{}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot set up a MariaDB client for %s: %w", t.addr, err)
	}
	db := sql.OpenDB(connector)
	// A sql.Conn is one connection for its whole life: one login, and
	// every query on it.
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, loginError(t, err)
	}
	return &session{db: db, conn: conn}, nil
}

// close logs out; it may be called again.
func (s *session) close() {
	if s.db == nil {
		return
	}
	s.conn.Close()
	s.db.Close()
	s.db = nil
}

func loginError(t dbTarget, err error) error {
	var me *mysql.MySQLError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &me) && me.Number == 1045:
		hint := "check -u and --password-file"
		if t.tls == nil {
			hint += ", and add --tls if the account REQUIREs SSL (MariaDB refuses it this way without TLS)"
		}
		return fmt.Errorf("MariaDB at %s refused the login as %s (error 1045: %s); %s", t.addr, t.user, me.Message, hint)
	case errors.As(err, &me) && t.tls == nil && strings.Contains(strings.ToLower(me.Message), "secure transport"):
		return fmt.Errorf("MariaDB at %s: error %d: %s; add --tls (and --tls-ca)", t.addr, me.Number, me.Message)
	case errors.As(err, &me):
		return fmt.Errorf("MariaDB at %s: error %d: %s", t.addr, me.Number, me.Message)
	case errors.As(err, &certErr):
		return fmt.Errorf("cannot verify the TLS certificate of MariaDB at %s: %v; give its CA with --tls-ca", t.addr, certErr.Err)
	case errors.Is(err, mysql.ErrNoTLS):
		return fmt.Errorf("MariaDB at %s does not offer TLS (%v); it needs ssl_cert and ssl_key, or leave out --tls", t.addr, err)
	}
	return fmt.Errorf("cannot reach MariaDB at %s: %v", t.addr, err)
}

// serverFacts are the variables of the checked server the rules need.
type serverFacts struct {
	version, account   string
	serverID, domainID uint32
	binlogPos, state   gtid.List
}

func (s *session) facts(ctx context.Context) (serverFacts, error) {
	var f serverFacts
	var pos, state string
	// @@GLOBAL: a session value could differ from the server's.
	err := s.conn.QueryRowContext(ctx, `SELECT VERSION(), CURRENT_USER(), @@GLOBAL.server_id, @@GLOBAL.gtid_domain_id,
		@@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_binlog_state`).Scan(&f.version, &f.account, &f.serverID, &f.domainID, &pos, &state)
	if err != nil {
		return f, err
	}
	if f.binlogPos, err = gtid.Parse(pos); err != nil {
		return f, fmt.Errorf("@@gtid_binlog_pos: %w", err)
	}
	if f.state, err = gtid.Parse(state); err != nil {
		return f, fmt.Errorf("@@gtid_binlog_state: %w", err)
	}
	return f, nil
}

// slaveStatus is one row of SHOW ALL SLAVES STATUS, read by column name.
type slaveStatus struct {
	name, masterHost, masterUser string
	masterPort                   int
	ioRunning, sqlRunning        string
	secondsBehind                *int64
	sqlDelay                     int64
	lastIOErrno, lastSQLErrno    int
	lastIOError, lastSQLError    string
	usingGtid                    string
	gtidIOPos, gtidSlavePos      string
}

func (s *session) slaves(ctx context.Context) ([]slaveStatus, error) {
	rows, err := s.conn.QueryContext(ctx, "SHOW ALL SLAVES STATUS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []slaveStatus
	for rows.Next() {
		raw := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		col := make(map[string]sql.NullString, len(cols))
		for i, c := range cols {
			col[c] = raw[i]
		}
		num := func(name string) int64 { n, _ := strconv.ParseInt(col[name].String, 10, 64); return n }
		st := slaveStatus{
			name: col["Connection_name"].String, masterHost: col["Master_Host"].String, masterUser: col["Master_User"].String,
			masterPort: int(num("Master_Port")), ioRunning: col["Slave_IO_Running"].String, sqlRunning: col["Slave_SQL_Running"].String,
			sqlDelay:    num("SQL_Delay"),
			lastIOErrno: int(num("Last_IO_Errno")), lastIOError: col["Last_IO_Error"].String,
			lastSQLErrno: int(num("Last_SQL_Errno")), lastSQLError: col["Last_SQL_Error"].String,
			usingGtid: col["Using_Gtid"].String, gtidIOPos: col["Gtid_IO_Pos"].String, gtidSlavePos: col["Gtid_Slave_Pos"].String,
		}
		if col["Seconds_Behind_Master"].Valid {
			n := num("Seconds_Behind_Master")
			st.secondsBehind = &n
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// privilegeError explains a refused SHOW ALL SLAVES STATUS: which
// privilege a monitoring account needs on this version, and the GRANT
// that gives it, so nobody reaches for an admin account.
func privilegeError(addr string, f serverFacts, err error) string {
	priv := monitorPrivilege(f.version)
	account := quoteAccount(f.account)
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		err = fmt.Errorf("error %d: %s", me.Number, me.Message)
	}
	alias := ""
	if priv == "SLAVE MONITOR" {
		alias = " (alias REPLICA MONITOR)"
	}
	return fmt.Sprintf("cannot read SHOW ALL SLAVES STATUS from %s as %s (%v); a monitoring account needs only the %s privilege%s: GRANT %s ON *.* TO %s",
		addr, account, err, priv, alias, priv, account)
}

// masterFacts is the master's position, read over its own login.
type masterFacts struct {
	addr     string
	pos      gtid.List
	domainID uint32
	err      error
	// sums are the master's checksums, for --check-data.
	sums    *mariadb.Checksums
	sumsErr error
}

// readMaster logs in to the master once and reads its position and domain.
func readMaster(ctx context.Context, t dbTarget, withChecksums bool) masterFacts {
	m := masterFacts{addr: t.addr}
	s, err := open(ctx, t)
	if err != nil {
		m.err = err
		return m
	}
	defer s.close()
	var pos string
	if err := s.conn.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_domain_id").Scan(&pos, &m.domainID); err != nil {
		m.err = fmt.Errorf("cannot read @@gtid_binlog_pos from MariaDB at %s: %v", t.addr, err)
		return m
	}
	if m.pos, err = gtid.Parse(pos); err != nil {
		m.err = fmt.Errorf("@@gtid_binlog_pos of MariaDB at %s: %v", t.addr, err)
	}
	if withChecksums && m.err == nil {
		m.sums, m.sumsErr = checksums(ctx, s, t.addr)
	}
	return m
}

// tlsOptions are --tls, --tls-ca, --tls-cert and --tls-key.
type tlsOptions struct {
	on                bool
	caFile            string
	certFile, keyFile string
}

func (o tlsOptions) wanted() bool {
	return o.on || o.caFile != "" || o.certFile != "" || o.keyFile != ""
}

// config builds the client TLS configuration for serverName, or nil when
// no TLS option is given. Without --tls-ca the system's CAs verify the
// server.
func (o tlsOptions) config(serverName string) (*tls.Config, error) {
	if !o.wanted() {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, pluginkit.Usagef("cannot read --tls-ca: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, pluginkit.Usagef("--tls-ca %s holds no PEM certificate", o.caFile)
		}
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return nil, pluginkit.Usagef("--tls-cert and --tls-key go together")
	}
	if o.certFile != "" {
		pair, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, pluginkit.Usagef("cannot load --tls-cert/--tls-key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// tcpTarget is HOST:PORT with the TLS options applied for HOST.
func tcpTarget(host string, port int, user, password string, o tlsOptions) (dbTarget, error) {
	t := dbTarget{network: "tcp", addr: net.JoinHostPort(host, strconv.Itoa(port)), user: user, password: password}
	var err error
	t.tls, err = o.config(host)
	return t, err
}
