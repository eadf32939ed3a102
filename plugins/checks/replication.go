//go:build !labfleet_lean

package checks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/pflag"

	"github.com/labfleet/labfleet/internal/mariadb"
	"github.com/labfleet/labfleet/plugins/pluginkit"
)

var checkReplication = pluginkit.Spec{
	Name:    "check_replication",
	Label:   "REPLICATION",
	Summary: "MariaDB replication, every named connection (multi-source), straight from the server",
	Usage:   "-H HOST [-P PORT] -u USER [--password-file FILE] [--connection NAME] [-w RANGE] [-c RANGE] [--min-connections N]",
	Help: `Reads SHOW ALL SLAVES STATUS, by column name, so every MariaDB named connection
is checked (check_mysql -S reads only the first row of SHOW SLAVE STATUS).
CRITICAL when the server cannot be reached or refuses the login, when a
connection's IO or SQL thread is not running (its last error is named), when
--connection NAME does not exist, or when there are fewer than
--min-connections connections; -w/-c apply to Seconds_Behind_Master. A lag
MariaDB reports as NULL while both threads run is WARNING.
The password comes from --password-file, else LABFLEET_DB_PASSWORD, else
MYSQL_PWD (never from the command line, where ps shows it). The user needs
only the REPLICA MONITOR privilege (or REPLICATION CLIENT before 10.5).`,
	New: func() pluginkit.Plugin { return &replicationCheck{} },
}

type replicationCheck struct {
	host, user, passwordFile, connection string
	port, minConnections                 int
	warn, crit                           *pluginkit.RangeValue
}

func (c *replicationCheck) Flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.host, "hostname", "H", "", "MariaDB `HOST` (required)")
	fs.IntVarP(&c.port, "port", "P", 3306, "MariaDB `PORT`")
	fs.StringVarP(&c.user, "user", "u", "", "MariaDB `USER` (required)")
	fs.StringVar(&c.passwordFile, "password-file", "", "`FILE` holding the password (default: $LABFLEET_DB_PASSWORD, then $MYSQL_PWD)")
	fs.StringVar(&c.connection, "connection", "", "check only the connection `NAME` (default: every connection)")
	c.warn = pluginkit.RangeFlag(fs, "warning", "w", "60", "WARNING `RANGE` for the lag in seconds")
	c.crit = pluginkit.RangeFlag(fs, "critical", "c", "300", "CRITICAL `RANGE` for the lag in seconds")
	fs.IntVar(&c.minConnections, "min-connections", 1, "CRITICAL with fewer than `N` connections")
}

func (c *replicationCheck) password() (string, error) {
	if c.passwordFile != "" {
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return "", pluginkit.Usagef("cannot read --password-file: %v", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if v, ok := os.LookupEnv("LABFLEET_DB_PASSWORD"); ok {
		return v, nil
	}
	return os.Getenv("MYSQL_PWD"), nil
}

func (c *replicationCheck) Run(ctx context.Context, r *pluginkit.Result) error {
	if c.host == "" {
		return pluginkit.Usagef("-H HOST is required")
	}
	if c.user == "" {
		return pluginkit.Usagef("-u USER is required")
	}
	if c.port < 1 || c.port > 65535 {
		return pluginkit.Usagef("-P %d is not a port number", c.port)
	}
	if c.minConnections < 0 {
		return pluginkit.Usagef("--min-connections %d is negative", c.minConnections)
	}
	pw, err := c.password()
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))

	// Our own connection first: it tells a refused login or a missing
	// server apart in words for this plugin (mariadb.Manager's
	// messages are written for the agent's flags).
	r.Stage("connecting to MariaDB at %s", addr)
	version, err := ping(ctx, addr, c.user, pw)
	if err != nil {
		if ctx.Err() == nil {
			r.Critical("%v", err)
		}
		return nil
	}
	m, err := mariadb.Open(addr, c.user, pw)
	if err != nil {
		return err
	}
	defer m.Close()
	r.Stage("reading SHOW ALL SLAVES STATUS from %s", addr)
	conns, err := m.Connections(ctx, c.connection)
	if err != nil {
		if ctx.Err() == nil {
			r.Unknown("cannot read SHOW ALL SLAVES STATUS from %s as %s (it needs the REPLICA MONITOR privilege): %v", addr, c.user, err)
		}
		return nil
	}
	r.Verbose(1, "MariaDB %s at %s", version, addr)

	minRange := &pluginkit.Range{Start: float64(c.minConnections), End: inf}
	r.Perf(pluginkit.Perf{Label: "connections", Value: float64(len(conns)), Crit: minRange, Min: pluginkit.F(0)})
	switch {
	case c.connection != "" && len(conns) == 0:
		r.Critical("no replication connection '%s' on %s%s", c.connection, addr, c.others(ctx, m))
	case len(conns) < c.minConnections:
		r.Critical("%s on %s, fewer than --min-connections %d", plural(len(conns), "replication connection"), addr, c.minConnections)
	}
	var fine []string
	for _, conn := range conns {
		if c.checkConnection(r, conn) {
			fine = append(fine, connName(conn.Name))
		}
	}
	if len(fine) == len(conns) && len(conns) > 0 {
		r.OK("%s running: %s", plural(len(conns), "connection"), strings.Join(fine, ", "))
	} else if len(conns) == 0 {
		r.OK("no replication connections on %s", addr)
	}
	return nil
}

// checkConnection records one connection's findings and reports whether
// all are fine.
func (c *replicationCheck) checkConnection(r *pluginkit.Result, conn mariadb.Connection) bool {
	name := connName(conn.Name)
	label := "lag"
	if conn.Name != "" {
		label = conn.Name + "_lag"
	}
	p := pluginkit.Perf{Label: label, UOM: "s", Warn: c.warn.Range(), Crit: c.crit.Range(), Min: pluginkit.F(0), Unknown: conn.SecondsBehind == nil}
	lag := "NULL"
	if conn.SecondsBehind != nil {
		p.Value = float64(*conn.SecondsBehind)
		lag = fmt.Sprintf("%ds", *conn.SecondsBehind)
	}
	r.Perf(p)
	gtid := "no GTID"
	if conn.UsingGtid != "" && conn.UsingGtid != "No" {
		gtid = fmt.Sprintf("GTID %s (received %s, applied %s)", conn.UsingGtid, orNone(conn.GtidIOPos), orNone(conn.GtidSlavePos))
	}
	r.Long("%s: IO %s, SQL %s, lag %s, master %s@%s, %s", name, conn.IORunning, conn.SQLRunning, lag,
		conn.MasterUser, net.JoinHostPort(conn.MasterHost, strconv.Itoa(int(conn.MasterPort))), gtid)
	if conn.LastIOErrno != 0 {
		r.Long("%s: last IO error %d: %s", name, conn.LastIOErrno, oneLine(conn.LastIOError))
	}
	if conn.LastSQLErrno != 0 {
		r.Long("%s: last SQL error %d: %s", name, conn.LastSQLErrno, oneLine(conn.LastSQLError))
	}

	ok := true
	if conn.IORunning != "Yes" {
		what := "not running"
		if conn.IORunning == "Connecting" {
			what = "connecting"
		}
		r.Critical("%s: IO thread %s%s", name, what, errno(conn.LastIOErrno))
		ok = false
	}
	if conn.SQLRunning != "Yes" {
		r.Critical("%s: SQL thread not running%s", name, errno(conn.LastSQLErrno))
		ok = false
	}
	switch {
	case !ok:
	case conn.SecondsBehind == nil:
		r.Warning("%s: both threads run but the lag is unknown (NULL)", name)
		ok = false
	default:
		if s := pluginkit.Evaluate(p.Value, c.warn.Range(), c.crit.Range()); s != pluginkit.OK {
			r.Add(s, "%s: lag %s (breaches %s)", name, lag, breach(s, "-w "+c.warn.String(), "-c "+c.crit.String()))
			ok = false
		}
	}
	return ok
}

// others names the connections that exist, for a --connection that does not.
func (c *replicationCheck) others(ctx context.Context, m *mariadb.Manager) string {
	all, err := m.Connections(ctx, "")
	if err != nil || len(all) == 0 {
		return " (it has none)"
	}
	names := make([]string, len(all))
	for i, a := range all {
		names[i] = "'" + a.Name + "'"
	}
	return " (connections: " + strings.Join(names, ", ") + ")"
}

func connName(name string) string {
	if name == "" {
		return "the default connection"
	}
	return "connection '" + name + "'"
}

func errno(n uint32) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (error %d)", n)
}

// ping logs in once and returns the server's version, or an error that
// says what failed in terms of this plugin's options.
func ping(ctx context.Context, addr, user, password string) (string, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", addr, user, password
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return "", fmt.Errorf("cannot set up a MariaDB client for %s: %w", addr, err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var v string
	err = db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v)
	var me *mysql.MySQLError
	switch {
	case err == nil:
		return v, nil
	case errors.As(err, &me) && me.Number == 1045:
		return "", fmt.Errorf("MariaDB at %s refused the login as %s (error 1045: %s); check -u and --password-file", addr, user, me.Message)
	case errors.As(err, &me):
		return "", fmt.Errorf("MariaDB at %s: error %d: %s", addr, me.Number, me.Message)
	}
	return "", fmt.Errorf("cannot reach MariaDB at %s: %v", addr, err)
}
