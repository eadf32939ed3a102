package mariadb

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
)

// systemDatabases are never dumped or counted as data.
var systemDatabases = map[string]bool{"mysql": true, "information_schema": true, "performance_schema": true, "sys": true, "labfleet": true}

// UserDatabases lists the server's own databases.
func (m *Manager) UserDatabases(ctx context.Context) ([]string, error) {
	return m.userDatabases(ctx, m.db)
}

// querier is a pool or one connection of it.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (m *Manager) userDatabases(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT schema_name FROM information_schema.schemata ORDER BY schema_name")
	if err != nil {
		return nil, m.wrap("list databases", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, m.wrap("list databases", err)
		}
		if !systemDatabases[n] {
			out = append(out, n)
		}
	}
	return out, m.wrap("list databases", rows.Err())
}

// optionFile is MariaDB's client option file holding the credentials:
// the password never appears in a command line. Double-quoted values are
// unescaped (\", \\, \n, \s and more), so backslashes are escaped too,
// or a password holding one arrives changed.
func (m *Manager) optionFile() ([]byte, error) {
	host, port, err := net.SplitHostPort(m.addr)
	if err != nil {
		return nil, err
	}
	pw := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(m.password)
	return fmt.Appendf(nil, "[client]\nhost=%s\nport=%s\nuser=%s\npassword=\"%s\"\n", host, port, m.login, pw), nil
}

// withCredentials makes cmd read the credentials from /dev/fd/3, the read
// end of a pipe the agent fills: no file ever exists on disk, so there is
// nothing to remove after a crash or SIGKILL and nothing another process
// could read. It returns the argument that must come first.
func (m *Manager) withCredentials(cmd *exec.Cmd) (string, func(), error) {
	body, err := m.optionFile()
	if err != nil {
		return "", nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", nil, fmt.Errorf("cannot pass the MariaDB credentials: %w", err)
	}
	// Far below the pipe's buffer (64 KiB), so the write never blocks.
	_, err = w.Write(body)
	w.Close()
	if err != nil {
		r.Close()
		return "", nil, fmt.Errorf("cannot pass the MariaDB credentials: %w", err)
	}
	cmd.ExtraFiles = []*os.File{r} // fd 3 in the child
	return "--defaults-extra-file=/dev/fd/3", func() { r.Close() }, nil
}

// Dump writes a consistent dump of dbs (one transaction, with the GTID
// position as a comment) to w.
func (m *Manager) Dump(ctx context.Context, dbs []string, w io.Writer) error {
	if len(dbs) == 0 {
		return fmt.Errorf("%w: MariaDB at %s has no databases of its own to seed from", ErrConflict, m.addr)
	}
	cmd := exec.CommandContext(ctx, "mariadb-dump")
	creds, done, err := m.withCredentials(cmd)
	if err != nil {
		return err
	}
	defer done()
	cmd.Args = append(append(cmd.Args, creds, "--single-transaction", "--gtid", "--master-data=2",
		"--routines", "--events", "--triggers", "--databases"), dbs...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mariadb-dump of %s failed: %v: %s", m.addr, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// gtidLine is how mariadb-dump --gtid --master-data=2 records the position.
var gtidLine = regexp.MustCompile(`^-- SET GLOBAL gtid_slave_pos='([0-9,-]*)';`)

// Load loads a dump from r without writing it to this server's binlog
// (the peers already have the data), then sets gtid_slave_pos to the
// dump's position so replication from its source starts right after it.
// It refuses a server with databases of its own unless force.
func (m *Manager) Load(ctx context.Context, r io.Reader, force bool) (pos string, n int64, err error) {
	have, err := m.UserDatabases(ctx)
	if err != nil {
		return "", 0, err
	}
	if len(have) > 0 && !force {
		return "", 0, fmt.Errorf("%w: MariaDB at %s already has databases (%s); seeding would replace those the dump contains: "+
			"seed only an empty node, or pass --force to accept that", ErrConflict, m.addr, strings.Join(have, ", "))
	}
	// gtid_slave_pos can only be set with every connection stopped.
	if _, err := m.db.ExecContext(ctx, "STOP ALL SLAVES"); err != nil {
		return "", 0, m.wrap("STOP ALL SLAVES", err)
	}
	cmd := exec.CommandContext(ctx, "mariadb")
	creds, done, err := m.withCredentials(cmd)
	if err != nil {
		return "", 0, err
	}
	defer done()
	cmd.Args = append(cmd.Args, creds, "--init-command=SET SESSION sql_log_bin=0")
	// The client reads an OS pipe itself, so that when it stops early (no
	// connection, an error in the dump) writing fails with EPIPE; through
	// an io.Pipe and exec's copying goroutine the write would block forever.
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", 0, fmt.Errorf("cannot run the mariadb client: %w", err)
	}
	cmd.Stdin = pr
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	pr.Close()
	if err != nil {
		pw.Close()
		return "", 0, fmt.Errorf("cannot run the mariadb client: %w", err)
	}
	failed := func(err error) error {
		return fmt.Errorf("loading the dump into %s failed: %v: %s", m.addr, err, strings.TrimSpace(stderr.String()))
	}
	sc := bufio.NewReaderSize(io.TeeReader(r, pw), 1<<20)
	for {
		line, rerr := sc.ReadString('\n')
		n += int64(len(line))
		if mm := gtidLine.FindStringSubmatch(line); mm != nil {
			pos = mm[1]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			pw.Close()
			werr := cmd.Wait()
			if errors.Is(rerr, syscall.EPIPE) && werr != nil {
				return "", n, failed(werr)
			}
			return "", n, fmt.Errorf("reading the dump: %w", rerr)
		}
	}
	pw.Close()
	if err := cmd.Wait(); err != nil {
		return "", n, failed(err)
	}
	if pos == "" {
		return "", n, fmt.Errorf("%w: the dump has no GTID position (was it made with --gtid --master-data?)", ErrConflict)
	}
	if _, err := m.db.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = ?", pos); err != nil {
		return "", n, m.wrap("SET GLOBAL gtid_slave_pos", err)
	}
	return pos, n, nil
}
