package labtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDBOptions tunes StartMariaDB.
type MariaDBOptions struct {
	ServerID int    // required; unique per server
	IP       string // loopback address to bind; default a fresh LoopbackIP()
	// Port defaults to 3306, which is free on a fresh IP; a free port is
	// picked instead when 3306 is taken (e.g. a server on 0.0.0.0:3306).
	Port         int
	RootPassword string // default "root-" + random hex
	// NoLogBin starts the server without a binary log. By default it
	// writes one (--log-bin=mysql-bin, ROW format), as a master needs.
	NoLogBin bool
	// LogSlaveUpdates adds --log-slave-updates, which master-master and
	// chained replication need (it cannot be changed without a restart).
	LogSlaveUpdates bool
	// FieldState sets the server up the way people set up servers: root's
	// password and accounts are written with the binary log on, and the log
	// is kept, so gtid_binlog_pos starts with this server's own domain 0
	// history (0-<server_id>-N) instead of being emptied. Replication must
	// cope with that state; the default empties it for tests of other things.
	FieldState bool
	Extra      []string // extra mariadbd flags, appended last so they win
}

// MariaDB is a mariadbd process started for a test, with its own data
// dir. root can log in with RootPassword over TCP from any 127.x address
// and on the unix socket.
type MariaDB struct {
	Addr         string // IP:Port
	IP           string
	Port         int
	Socket       string
	DataDir      string
	RootPassword string
	ServerID     int

	bin    string
	args   []string
	errLog string

	mu   sync.Mutex
	proc *mariadbProc // the last process started; nil before the first
}

// mariadbProc is one run of mariadbd on the data dir.
type mariadbProc struct {
	cmd     *exec.Cmd
	out     *syncBuffer // stdout and stderr; mariadbd logs to errLog
	exited  chan struct{}
	exitErr error
}

// mariadbSmall keeps a server at about 55 MB resident instead of about
// 90 MB, so that tests can run several at once on a small machine; the
// redo log (8 MB instead of 100 MB) is created that size by
// mariadb-install-db too, so the first start need not resize it.
var mariadbSmall = []string{
	"--innodb-buffer-pool-size=32M",
	"--innodb-log-file-size=8M",
	"--innodb-log-buffer-size=2M",
	"--key-buffer-size=1M",
	"--aria-pagecache-buffer-size=8M",
	"--performance-schema=OFF",
	"--max-connections=50",
	"--table-open-cache=200",
	"--table-definition-cache=400",
}

// StartMariaDB creates a data dir with mariadb-install-db, starts mariadbd
// on o.IP:o.Port as a child process and waits until it answers over TCP.
// It then gives root@localhost and a new root@'127.%' the root password
// (dropping install-db's other, passwordless root accounts) with
// sql_log_bin=0, so the binary log starts empty: @@gtid_binlog_pos is ""
// and a replica starting from an empty position receives nothing (RESET
// MASTER runs only if something was logged anyway). The server is
// stopped, and its error log printed if the test failed, when the test
// ends.
func StartMariaDB(t testing.TB, o MariaDBOptions) *MariaDB {
	t.Helper()
	RequireReal(t, "MariaDB (mariadbd)")
	if o.ServerID <= 0 {
		t.Fatal("labtest.StartMariaDB: ServerID is required (a unique number > 0)")
	}
	if o.IP == "" {
		o.IP = LoopbackIP()
	}
	if o.Port == 0 {
		o.Port = 3306
		if l, err := net.Listen("tcp", net.JoinHostPort(o.IP, "3306")); err == nil {
			l.Close()
		} else {
			_, p, _ := net.SplitHostPort(FreeAddr(t, o.IP))
			o.Port, _ = strconv.Atoi(p)
		}
	}
	if o.RootPassword == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		o.RootPassword = "root-" + hex.EncodeToString(b)
	}
	dir := t.TempDir() // 0700, so the data dir and logs stay private
	m := &MariaDB{
		Addr:         net.JoinHostPort(o.IP, strconv.Itoa(o.Port)),
		IP:           o.IP,
		Port:         o.Port,
		Socket:       socketPath(t, dir, "mysqld.sock"),
		DataDir:      filepath.Join(dir, "data"),
		RootPassword: o.RootPassword,
		ServerID:     o.ServerID,
		bin:          Tool(t, "mariadbd"),
		errLog:       filepath.Join(dir, "error.log"),
	}

	// Debian's mariadbd refuses to run as root unless told --user=root;
	// the tests run as root, so both programs get it.
	// Each server gets its own temp dir: every mariadbd deletes the #sql*
	// files of its tmpdir when it starts, which breaks a mariadb-install-db
	// running beside it in a shared /tmp (ERROR 1051 Unknown table
	// 'mysql.tmp_user_...').
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	install := append([]string{"--no-defaults", "--user=root", "--datadir=" + m.DataDir, "--tmpdir=" + tmp,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"}, mariadbSmall...)
	begin := time.Now()
	if out, err := exec.Command(Tool(t, "mariadb-install-db"), install...).CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db %s: %v\n%s", strings.Join(install, " "), err, out)
	}

	m.args = []string{
		"--no-defaults", // must come first
		"--user=root",
		"--datadir=" + m.DataDir,
		"--tmpdir=" + tmp,
		"--port=" + strconv.Itoa(m.Port),
		"--bind-address=" + m.IP,
		"--socket=" + m.Socket,
		"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
		"--log-error=" + m.errLog,
		"--server-id=" + strconv.Itoa(o.ServerID),
		"--skip-name-resolve",
		"--binlog-format=ROW",
		"--gtid-strict-mode=0",
		// Relay logs are named after the host unless told otherwise.
		"--relay-log=relay-bin",
		// Commits reach the OS at once, so a killed server keeps them;
		// only an OS crash could lose the last second.
		"--innodb-flush-log-at-trx-commit=2",
	}
	if !o.NoLogBin {
		m.args = append(m.args, "--log-bin=mysql-bin")
	}
	if o.LogSlaveUpdates {
		m.args = append(m.args, "--log-slave-updates")
	}
	m.args = append(m.args, mariadbSmall...)
	m.args = append(m.args, o.Extra...)

	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mariadbd %s (server_id %d) error log:\n%s", m.Addr, m.ServerID, m.Log())
		}
	})
	// install-db's root accounts have no password yet.
	installed := time.Since(begin)
	m.start(t, "")
	m.setup(t, o.FieldState)
	t.Logf("mariadbd %s (server_id %d) ready in %v (mariadb-install-db %v)", m.Addr, m.ServerID,
		time.Since(begin).Round(time.Millisecond), installed.Round(time.Millisecond))
	return m
}

// setup secures root and, unless logged, empties the binary log; see
// StartMariaDB and MariaDBOptions.FieldState.
func (m *MariaDB) setup(t testing.TB, logged bool) {
	t.Helper()
	c := m.Config()
	c.Passwd = ""
	// Account names and passwords cannot be placeholders of a server-side
	// prepared statement; the driver quotes them instead.
	c.InterpolateParams = true
	connector, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatalf("mariadbd %s: %v", m.Addr, err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One connection, so SET sql_log_bin=0 holds for every statement.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("mariadbd %s: cannot connect as root to set it up: %v", m.Addr, err)
	}
	defer conn.Close()
	run := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("mariadbd %s: setup %q: %v", m.Addr, q, err)
		}
	}
	if !logged {
		run("SET SESSION sql_log_bin = 0")
	}
	// install-db also makes root@127.0.0.1, root@::1 and root@<hostname>
	// without a password; 127.0.0.1 would match before '127.%'.
	hosts, err := firstColumn(ctx, conn, "SELECT Host FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'")
	if err != nil {
		t.Fatalf("mariadbd %s: cannot list root accounts: %v", m.Addr, err)
	}
	for _, h := range hosts {
		run("DROP USER 'root'@?", h)
	}
	run("ALTER USER 'root'@'localhost' IDENTIFIED BY ?", m.RootPassword)
	run("CREATE USER 'root'@'127.%' IDENTIFIED BY ?", m.RootPassword)
	run("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.%' WITH GRANT OPTION")
	// RESET MASTER takes about a second (it waits for a binlog
	// checkpoint), so it runs only when the binary log holds more than
	// the headers a fresh server writes, which the sql_log_bin=0 above
	// normally prevents; Extra flags could still log something at boot.
	var logBin int
	var pos string
	if err := conn.QueryRowContext(ctx, "SELECT @@log_bin, @@gtid_binlog_pos").Scan(&logBin, &pos); err != nil {
		t.Fatalf("mariadbd %s: cannot read the binary log position: %v", m.Addr, err)
	}
	if logBin == 0 || logged {
		return
	}
	files, err := firstColumn(ctx, conn, "SHOW BINARY LOGS")
	if err != nil {
		t.Fatalf("mariadbd %s: %v", m.Addr, err)
	}
	if pos != "" || len(files) > 1 {
		run("RESET MASTER")
	}
}

// firstColumn returns the first column of every row query returns.
func firstColumn(ctx context.Context, conn *sql.Conn, query string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	var out []string
	for rows.Next() {
		dest := make([]any, len(cols))
		var first sql.NullString
		dest[0] = &first
		for i := 1; i < len(dest); i++ {
			dest[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("%s: %w", query, err)
		}
		out = append(out, first.String)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	return out, nil
}

// Start starts mariadbd again on the same data dir, address and flags
// after Stop, and waits until root can log in over TCP.
func (m *MariaDB) Start(t testing.TB) {
	t.Helper()
	m.start(t, m.RootPassword)
}

func (m *MariaDB) start(t testing.TB, password string) {
	t.Helper()
	m.mu.Lock()
	if m.proc != nil && !m.proc.done() {
		m.mu.Unlock()
		t.Fatalf("mariadbd %s is already running", m.Addr)
	}
	p := &mariadbProc{out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(m.bin, m.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Should the test binary die (a -timeout panic skips t.Cleanup), the
	// kernel kills the server rather than leave it holding its address.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		m.mu.Unlock()
		t.Fatalf("start mariadbd: %v", err)
	}
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	m.proc = p
	m.mu.Unlock()

	db := m.open(t, password)
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
		var myErr *mysql.MySQLError
		if errors.As(err, &myErr) && myErr.Number == 1045 { // access denied: no use waiting
			t.Fatalf("mariadbd %s answers but root cannot log in: %v", m.Addr, err)
		}
		select {
		case <-p.exited:
			t.Fatalf("mariadbd %s exited at start (%v); error log at the end of the test", m.Addr, p.exitErr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mariadbd %s did not accept connections within 30s (%v); error log at the end of the test", m.Addr, err)
		}
	}
}

func (p *mariadbProc) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for a clean shutdown (up to 30 s, then
// SIGKILL). It does nothing when the server is not running, so a test may
// call it before the cleanup does.
func (m *MariaDB) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	if p == nil || p.done() {
		return
	}
	terminate(p.cmd.Process, p.exited, 30*time.Second)
}

// Config returns a go-sql-driver config for root over TCP to Addr, with
// multiStatements and parseTime on. Tests change a copy, e.g. to log in as
// another user.
func (m *MariaDB) Config() *mysql.Config {
	c := mysql.NewConfig()
	c.User = "root"
	c.Passwd = m.RootPassword
	c.Net = "tcp"
	c.Addr = m.Addr
	c.MultiStatements = true
	c.ParseTime = true
	c.Timeout = 5 * time.Second
	return c
}

// open returns a handle for root with the given password.
func (m *MariaDB) open(t testing.TB, password string) *sql.DB {
	t.Helper()
	c := m.Config()
	c.Passwd = password
	conn, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatalf("mariadbd %s: %v", m.Addr, err)
	}
	return sql.OpenDB(conn)
}

// DB returns a handle for root over TCP (see Config), closed when the test
// ends. It survives Stop and Start: database/sql reconnects.
func (m *MariaDB) DB(t testing.TB) *sql.DB {
	t.Helper()
	db := m.open(t, m.RootPassword)
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs query (several statements are allowed when there are no args)
// as root on a fresh connection and fails the test on error.
func (m *MariaDB) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	db := m.open(t, m.RootPassword)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("mariadbd %s: %s: %v", m.Addr, query, err)
	}
}

// Log returns the server's error log so far, plus anything it wrote to
// stdout or stderr (errors from before the log was opened).
func (m *MariaDB) Log() string {
	b, err := os.ReadFile(m.errLog)
	s := string(b)
	if err != nil {
		s = fmt.Sprintf("(cannot read %s: %v)\n", m.errLog, err)
	}
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if p != nil {
		if out := p.out.String(); out != "" {
			s += "--- mariadbd output:\n" + out
		}
	}
	return s
}
