//go:build !labfleet_lean

package checks

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/labfleet/labfleet/internal/gtid"
	"github.com/labfleet/labfleet/internal/mariadb"
	"github.com/labfleet/labfleet/plugins/pluginkit"
)

var checkReplication = pluginkit.Spec{
	Name:    "check_replication",
	Label:   "REPLICATION",
	Summary: "MariaDB replication, every named connection (multi-source), straight from the server",
	Usage: "-H HOST [-P PORT] | --socket PATH, -u USER [--password-file FILE] [--connection NAME[:WARN:CRIT]]... " +
		"[-w RANGE] [-c RANGE] [--trx-warning RANGE] [--trx-critical RANGE] [--min-connections N] [--master HOST[:PORT]] " +
		"[--check-errant [--legacy-domain IDS]] [--check-data] [--tls [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]]",
	Help: `Reads SHOW ALL SLAVES STATUS, by column name, so every MariaDB named connection
is checked (check_mysql -S reads only the first row of SHOW SLAVE STATUS), over
one login per run.
CRITICAL when the server cannot be reached or refuses the login, when a
connection's IO or SQL thread is not running (its last error is named), when a
--connection NAME does not exist, or when there are fewer than
--min-connections connections. A lag MariaDB reports as NULL while both
threads run is WARNING.
Lag in seconds: -w/-c (or a --connection's own WARN:CRIT) apply to
Seconds_Behind_Master less the connection's MASTER_DELAY (SQL_Delay): a
delayed connection alerts only when it is further behind than its delay.
Lag in transactions: --trx-warning/--trx-critical apply to the transactions
the server has not applied (Gtid_Slave_Pos), counted against what the
connection received (Gtid_IO_Pos), or, with --master, against the master's
@@gtid_binlog_pos in the master's @@gtid_domain_id (the plugin logs in to the
master too, with the same user and password; a master it cannot read is
WARNING). --master applies to the connection whose Master_Host:Master_Port it
names, or to the only one. Both counts include what MASTER_DELAY holds back.
--check-errant: CRITICAL when @@gtid_binlog_state holds a transaction written
by this server (its @@server_id) in a domain other than its @@gtid_domain_id,
and, with --master, when this server's @@gtid_binlog_pos is ahead of the
master's in the master's domain. Both rules leave out the --legacy-domain
domains (default 0, which every server writes before replication is set up).
--check-data (with --master): CHECKSUM TABLE and a row count for every table of
the servers' own databases, here and on the master, on the same two logins;
CRITICAL naming each table that differs or exists on one side only (a row
changed with sql_log_bin=0 shows nowhere else). Compared only when both
binlogs stood still while checksummed and are at the same position outside the
legacy domains; otherwise the next run compares. It reads every row: run it
less often on large databases. The user then also needs SELECT.
The password comes from --password-file, else LABFLEET_DB_PASSWORD, else
MYSQL_PWD (never from the command line, where ps shows it). The user needs
only the SLAVE MONITOR privilege (alias REPLICA MONITOR; REPLICATION CLIENT
before 10.5): GRANT SLAVE MONITOR ON *.* TO 'nagios'@'10.0.0.9'.`,
	New: func() pluginkit.Plugin { return &replicationCheck{} },
}

type replicationCheck struct {
	host, socket, user, passwordFile, master string
	port, minConnections                     int
	connections, legacyDomains               []string
	checkErrant, checkData                   bool
	tls                                      tlsOptions
	warn, crit, trxWarn, trxCrit             *pluginkit.RangeValue

	specs  []connSpec
	legacy []uint32
}

func (c *replicationCheck) Flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.host, "hostname", "H", "", "MariaDB `HOST` (required unless --socket)")
	fs.IntVarP(&c.port, "port", "P", 3306, "MariaDB `PORT`")
	fs.StringVar(&c.socket, "socket", "", "log in over the unix socket `PATH` of a local server instead of -H/-P")
	fs.StringVarP(&c.user, "user", "u", "", "MariaDB `USER` (required)")
	fs.StringVar(&c.passwordFile, "password-file", "", "`FILE` holding the password (default: $LABFLEET_DB_PASSWORD, then $MYSQL_PWD)")
	fs.StringArrayVar(&c.connections, "connection", nil, "check only the connection `NAME[:WARN:CRIT]` (repeatable); WARN and CRIT, in seconds, replace -w and -c for it")
	c.warn = pluginkit.RangeFlag(fs, "warning", "w", "60", "WARNING `RANGE` for the lag in seconds beyond MASTER_DELAY")
	c.crit = pluginkit.RangeFlag(fs, "critical", "c", "300", "CRITICAL `RANGE` for the lag in seconds beyond MASTER_DELAY")
	c.trxWarn = pluginkit.RangeFlag(fs, "trx-warning", "", "", "WARNING `RANGE` for the lag in transactions (default: none)")
	c.trxCrit = pluginkit.RangeFlag(fs, "trx-critical", "", "", "CRITICAL `RANGE` for the lag in transactions (default: none)")
	fs.IntVar(&c.minConnections, "min-connections", 1, "CRITICAL with fewer than `N` connections")
	fs.StringVar(&c.master, "master", "", "also log in to the master at `HOST[:PORT]` and count the lag in transactions against its position")
	fs.BoolVar(&c.checkErrant, "check-errant", false, "CRITICAL on errant transactions (see above)")
	fs.BoolVar(&c.checkData, "check-data", false, "with --master: CHECKSUM TABLE every table of the server's own databases here and on the master, CRITICAL naming those that differ (compared only when both are at the same position)")
	fs.StringSliceVar(&c.legacyDomains, "legacy-domain", []string{"0"}, "GTID domain `IDS` --check-errant leaves out (comma separated; '' for none)")
	fs.BoolVar(&c.tls.on, "tls", false, "log in over TLS, verifying the server against the system's CAs or --tls-ca")
	fs.StringVar(&c.tls.caFile, "tls-ca", "", "CA `FILE` to verify MariaDB's certificate against (implies --tls)")
	fs.StringVar(&c.tls.certFile, "tls-cert", "", "client certificate `FILE` for an account that REQUIREs X509 (implies --tls)")
	fs.StringVar(&c.tls.keyFile, "tls-key", "", "client key `FILE` for --tls-cert")
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

// targets checks the options and returns whom to log in to.
func (c *replicationCheck) targets() (replica dbTarget, master *dbTarget, err error) {
	switch {
	case c.host == "" && c.socket == "":
		return replica, nil, pluginkit.Usagef("-H HOST is required")
	case c.host != "" && c.socket != "":
		return replica, nil, pluginkit.Usagef("-H and --socket exclude each other: one server per run")
	case c.socket != "" && c.tls.wanted():
		return replica, nil, pluginkit.Usagef("--tls applies to -H: a unix socket is local, MariaDB counts it as secure")
	case c.user == "":
		return replica, nil, pluginkit.Usagef("-u USER is required")
	case c.port < 1 || c.port > 65535:
		return replica, nil, pluginkit.Usagef("-P %d is not a port number", c.port)
	case c.minConnections < 0:
		return replica, nil, pluginkit.Usagef("--min-connections %d is negative", c.minConnections)
	case c.checkData && c.master == "":
		return replica, nil, pluginkit.Usagef("--check-data compares with the master: give --master HOST[:PORT]")
	}
	if c.specs, err = parseConnSpecs(c.connections); err != nil {
		return replica, nil, err
	}
	if c.legacy, err = parseDomains(c.legacyDomains); err != nil {
		return replica, nil, err
	}
	pw, err := c.password()
	if err != nil {
		return replica, nil, err
	}
	if c.socket != "" {
		replica = dbTarget{network: "unix", addr: c.socket, user: c.user, password: pw}
	} else if replica, err = tcpTarget(c.host, c.port, c.user, pw, c.tls); err != nil {
		return replica, nil, err
	}
	if c.master != "" {
		host, port, err := splitHostPort(c.master)
		if err != nil {
			return replica, nil, err
		}
		m, err := tcpTarget(host, port, c.user, pw, c.tls)
		if err != nil {
			return replica, nil, err
		}
		master = &m
	}
	return replica, master, nil
}

func (c *replicationCheck) Run(ctx context.Context, r *pluginkit.Result) error {
	target, masterTarget, err := c.targets()
	if err != nil {
		return err
	}
	addr := target.addr
	// The master's login runs while the replica is read.
	var masterDone chan masterFacts
	if masterTarget != nil {
		masterDone = make(chan masterFacts, 1)
		go func() { masterDone <- readMaster(ctx, *masterTarget, c.checkData) }()
	}

	r.Stage("connecting to MariaDB at %s", addr)
	s, err := open(ctx, target)
	if err != nil {
		if ctx.Err() == nil {
			r.Critical("%v", err)
		}
		return nil
	}
	defer s.close()
	r.Stage("reading server variables from %s", addr)
	facts, err := s.facts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.Unknown("cannot read server_id, gtid_domain_id and the GTID positions from %s (MariaDB 10.0 or later is needed): %v", addr, err)
		}
		return nil
	}
	r.Stage("reading SHOW ALL SLAVES STATUS from %s", addr)
	all, err := s.slaves(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.Unknown("%s", privilegeError(addr, facts, err))
		}
		return nil
	}
	var data *mariadb.Checksums
	if c.checkData {
		r.Stage("checksumming the tables of %s", addr)
		if data, err = checksums(ctx, s, addr); err != nil {
			if ctx.Err() == nil {
				r.Unknown("--check-data: %v", err)
			}
			return nil
		}
	}
	s.close()
	r.Verbose(1, "MariaDB %s at %s (server_id %d, gtid_domain_id %d)", facts.version, addr, facts.serverID, facts.domainID)

	conns := c.selected(r, all, addr)
	var master *masterFacts
	if masterDone != nil {
		r.Stage("reading @@gtid_binlog_pos from the master %s", masterTarget.addr)
		m := <-masterDone
		if m.err != nil {
			r.Warning("cannot read the master's position (%v); the lag in transactions is counted against what was received", m.err)
		} else {
			master = &m
		}
	}
	masterOf := c.masterConnection(r, conns, master)
	var fine []string
	for i, conn := range conns {
		ref := trxRef{}
		if i == masterOf {
			ref = trxRef{pos: master.pos, domain: &master.domainID, master: master.addr}
		} else if p, err := gtid.Parse(conn.gtidIOPos); err == nil {
			ref.pos = p
		}
		if c.checkConnection(r, conn, ref) {
			fine = append(fine, connName(conn.name))
		}
	}
	if c.checkErrant {
		c.errant(r, addr, facts, master)
	}
	if c.checkData && master != nil {
		if master.sumsErr != nil {
			r.Unknown("--check-data: %v", master.sumsErr)
		} else {
			c.compareData(r, addr, data, master.sums, master.addr)
		}
	}
	if len(fine) == len(conns) && len(conns) > 0 {
		r.OK("%s running: %s", plural(len(conns), "connection"), strings.Join(fine, ", "))
	} else if len(conns) == 0 {
		r.OK("no replication connections on %s", addr)
	}
	return nil
}

// selected returns the connections to check: every one, or those named by
// --connection. A name that does not exist, and too few connections, are
// CRITICAL.
func (c *replicationCheck) selected(r *pluginkit.Result, all []slaveStatus, addr string) []slaveStatus {
	conns := all
	var missing []string
	if len(c.specs) > 0 {
		conns = nil
		for _, spec := range c.specs {
			n := len(conns)
			for _, st := range all {
				if st.name == spec.name {
					conns = append(conns, st)
				}
			}
			if len(conns) == n {
				missing = append(missing, spec.name)
			}
		}
	}
	minRange := &pluginkit.Range{Start: float64(c.minConnections), End: inf}
	r.Perf(pluginkit.Perf{Label: "connections", Value: float64(len(conns)), Crit: minRange, Min: pluginkit.F(0)})
	for _, name := range missing {
		r.Critical("no replication connection '%s' on %s%s", name, addr, others(all))
	}
	if len(missing) == 0 && len(conns) < c.minConnections {
		r.Critical("%s on %s, fewer than --min-connections %d", plural(len(conns), "replication connection"), addr, c.minConnections)
	}
	return conns
}

// masterConnection returns the index of the connection --master is the
// master of: the one replicating from that HOST:PORT, else the only one;
// -1 when there is no master or it fits none.
func (c *replicationCheck) masterConnection(r *pluginkit.Result, conns []slaveStatus, m *masterFacts) int {
	if m == nil {
		return -1
	}
	host, port, _ := splitHostPort(c.master)
	for i, conn := range conns {
		if sameEndpoint(host, port, conn.masterHost, conn.masterPort) {
			return i
		}
	}
	switch len(conns) {
	case 0:
		return -1
	case 1:
		r.Verbose(1, "--master %s taken as the master of %s, which replicates from %s", m.addr, connName(conns[0].name), endpoint(conns[0]))
		return 0
	}
	names := make([]string, len(conns))
	for i, conn := range conns {
		names[i] = connName(conn.name) + " from " + endpoint(conns[i])
	}
	r.Unknown("--master %s is not the master of any connection checked (%s); name one with --connection", m.addr, strings.Join(names, ", "))
	return -1
}

// thresholds returns the lag thresholds for a connection and how to name
// each in a message.
func (c *replicationCheck) thresholds(name string) (warn, crit *pluginkit.Range, warnText, critText string) {
	warn, crit = c.warn.Range(), c.crit.Range()
	warnText, critText = "-w "+c.warn.String(), "-c "+c.crit.String()
	for _, s := range c.specs {
		if s.name != name {
			continue
		}
		if s.warn != nil {
			warn, warnText = s.warn, "--connection "+s.text
		}
		if s.crit != nil {
			crit, critText = s.crit, "--connection "+s.text
		}
	}
	return warn, crit, warnText, critText
}

// checkConnection records one connection's findings and reports whether
// all are fine.
func (c *replicationCheck) checkConnection(r *pluginkit.Result, conn slaveStatus, ref trxRef) bool {
	name := connName(conn.name)
	prefix := ""
	if conn.name != "" {
		prefix = conn.name + "_"
	}
	warn, crit, warnText, critText := c.thresholds(conn.name)
	p := pluginkit.Perf{Label: prefix + "lag", UOM: "s", Warn: warn, Crit: crit, Min: pluginkit.F(0), Unknown: conn.secondsBehind == nil}
	if conn.secondsBehind != nil {
		p.Value = float64(lagBeyondDelay(*conn.secondsBehind, conn.sqlDelay))
	}
	r.Perf(p)

	gtidUsed := conn.usingGtid != "" && conn.usingGtid != "No"
	applied, errA := gtid.Parse(conn.gtidSlavePos)
	var trx *pluginkit.Perf
	if (gtidUsed || ref.master != "") && errA == nil {
		trx = &pluginkit.Perf{Label: prefix + "lag_trx", Value: float64(ref.behind(applied)), Warn: c.trxWarn.Range(), Crit: c.trxCrit.Range(), Min: pluginkit.F(0)}
		r.Perf(*trx)
	}
	if conn.sqlDelay > 0 {
		r.Perf(pluginkit.Perf{Label: prefix + "delay", Value: float64(conn.sqlDelay), UOM: "s", Min: pluginkit.F(0)})
	}

	gtidText := "no GTID"
	if gtidUsed {
		gtidText = fmt.Sprintf("GTID %s (received %s, applied %s", conn.usingGtid, orNone(conn.gtidIOPos), orNone(conn.gtidSlavePos))
		if received, err := gtid.Parse(conn.gtidIOPos); err == nil && errA == nil {
			gtidText += "; " + plural(int(gtid.Behind(applied, received)), "transaction") + " not applied"
		}
		gtidText += ")"
	}
	r.Long("%s: IO %s, SQL %s, lag %s, master %s@%s, %s", name, conn.ioRunning, conn.sqlRunning, lagText(conn.secondsBehind, conn.sqlDelay),
		conn.masterUser, endpoint(conn), gtidText)
	if ref.master != "" {
		r.Long("%s: the master %s is at %s in its domain %d: %s", name, ref.master, orNone(gtidIn(ref.pos, *ref.domain)), *ref.domain, ref.describe(ref.behind(applied)))
	}
	if conn.lastIOErrno != 0 {
		r.Long("%s: last IO error %d: %s", name, conn.lastIOErrno, oneLine(conn.lastIOError))
	}
	if conn.lastSQLErrno != 0 {
		r.Long("%s: last SQL error %d: %s", name, conn.lastSQLErrno, oneLine(conn.lastSQLError))
	}

	ok := true
	if conn.ioRunning != "Yes" {
		what := "not running"
		if conn.ioRunning == "Connecting" {
			what = "connecting"
		}
		r.Critical("%s: IO thread %s%s", name, what, errno(conn.lastIOErrno))
		ok = false
	}
	if conn.sqlRunning != "Yes" {
		r.Critical("%s: SQL thread not running%s", name, errno(conn.lastSQLErrno))
		ok = false
	}
	if !ok {
		return false
	}
	if conn.secondsBehind == nil {
		r.Warning("%s: both threads run but the lag is unknown (NULL)", name)
		ok = false
	} else if s := pluginkit.Evaluate(p.Value, warn, crit); s != pluginkit.OK {
		r.Add(s, "%s: lag %s (breaches %s)", name, lagText(conn.secondsBehind, conn.sqlDelay), breach(s, warnText, critText))
		ok = false
	}
	if trx != nil {
		if s := pluginkit.Evaluate(trx.Value, trx.Warn, trx.Crit); s != pluginkit.OK {
			r.Add(s, "%s: %s (breaches %s)", name, ref.describe(uint64(trx.Value)), breach(s, "--trx-warning "+c.trxWarn.String(), "--trx-critical "+c.trxCrit.String()))
			ok = false
		}
	}
	return ok
}

// gtidIn is a list's GTID in domain d, or "".
func gtidIn(l gtid.List, d uint32) string {
	if g, ok := l.Last(d); ok {
		return g.String()
	}
	return ""
}

// others names the connections that exist, for a --connection that does not.
func others(all []slaveStatus) string {
	if len(all) == 0 {
		return " (it has none)"
	}
	names := make([]string, len(all))
	for i, a := range all {
		names[i] = "'" + a.name + "'"
	}
	return " (connections: " + strings.Join(names, ", ") + ")"
}

func endpoint(conn slaveStatus) string {
	return net.JoinHostPort(conn.masterHost, strconv.Itoa(conn.masterPort))
}

func connName(name string) string {
	if name == "" {
		return "the default connection"
	}
	return "connection '" + name + "'"
}

func errno(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (error %d)", n)
}
