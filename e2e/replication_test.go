package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	"github.com/labfleet/labfleet/internal/pki"
)

// replLab is two MariaDB servers, each with its own agent (mTLS), and an
// inventory that names them node1 and node2.
type replLab struct {
	db1, db2 *labtest.MariaDB
	a1, a2   *labtest.Agent
	inv      string
	tls      []string
	stateDir string
}

func newReplLab(t testing.TB, o1, o2 labtest.MariaDBOptions, agent2Env ...string) *replLab {
	t.Helper()
	l := &replLab{stateDir: t.TempDir()}
	l.db1 = labtest.StartMariaDB(t, o1)
	l.db2 = labtest.StartMariaDB(t, o2)
	ip1, ip2 := labtest.LoopbackIP(), labtest.LoopbackIP()
	dir := t.TempDir()
	if _, err := pki.Init(pki.Options{Dir: dir, Hosts: []pki.Host{{Name: "node1", Addrs: []string{ip1}}, {Name: "node2", Addrs: []string{ip2}}}}); err != nil {
		t.Fatal(err)
	}
	agent := func(name, ip string, db *labtest.MariaDB, env ...string) *labtest.Agent {
		return labtest.StartAgent(t, labtest.AgentOptions{Name: name, Mode: labtest.MTLS, Certs: dir, IP: ip,
			Args: []string{"--mariadb-addr", db.Addr, "--mariadb-user", "root"},
			Env:  append([]string{"LABAGENT_MARIADB_PASSWORD=" + db.RootPassword}, env...)})
	}
	l.a1 = agent("node1", ip1, l.db1)
	l.a2 = agent("node2", ip2, l.db2, agent2Env...)
	var b strings.Builder
	b.WriteString("[nodes]\n")
	for _, x := range []struct {
		a  *labtest.Agent
		db *labtest.MariaDB
	}{{l.a1, l.db1}, {l.a2, l.db2}} {
		h, p := hostPort(x.a.Addr)
		fmt.Fprintf(&b, "%s ansible_host=%s labagent_port=%s mariadb_host=%s mariadb_port=%d\n", x.a.Name, h, p, x.db.IP, x.db.Port)
	}
	l.inv = writeFile(t, "inv.ini", b.String())
	l.tls = []string{"--ca", filepath.Join(dir, "ca.crt"), "--cert", filepath.Join(dir, "labcontroller.crt"), "--key", filepath.Join(dir, "labcontroller.key")}
	return l
}

func (l *replLab) ctl(t *testing.T, args ...string) labtest.Result {
	t.Helper()
	return controller(t, append(append([]string{"-i", l.inv}, l.tls...), args...)...)
}

func (l *replLab) setup(t *testing.T, extra ...string) labtest.Result {
	t.Helper()
	return l.ctl(t, append([]string{"replication", "setup", "--state-dir", l.stateDir, "--timeout", "20s"}, extra...)...)
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReplication_SetupWritesBothWaysRerunAndRepair(t *testing.T) {
	l := newReplLab(t, labtest.MariaDBOptions{ServerID: 1, LogSlaveUpdates: true}, labtest.MariaDBOptions{ServerID: 2, LogSlaveUpdates: true})
	d1, d2 := l.db1.DB(t), l.db2.DB(t)

	r := l.setup(t)
	if r.Code != 0 || !strings.Contains(r.Stdout, "verified") || !strings.Contains(r.Stdout, "auto_increment_offset = 2") {
		t.Fatalf("setup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Every event setup wrote is in the writing node's own GTID domain.
	var pos string
	if err := d1.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil || strings.Contains(pos, "0-") {
		t.Fatalf("gtid_binlog_pos %q (%v): setup wrote events outside domains 1 and 2", pos, err)
	}
	// Writes on both sides replicate both ways, without auto-increment collisions.
	l.db1.Exec(t, "CREATE DATABASE app")
	l.db1.Exec(t, "CREATE TABLE app.items (id INT AUTO_INCREMENT PRIMARY KEY, node VARCHAR(8))")
	eventually(t, "the table reaches node2", func() bool {
		var n int
		return d2.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='app'").Scan(&n) == nil && n == 1
	})
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Go(func() { l.db1.Exec(t, "INSERT INTO app.items (node) VALUES ('node1')") })
		wg.Go(func() { l.db2.Exec(t, "INSERT INTO app.items (node) VALUES ('node2')") })
	}
	wg.Wait()
	eventually(t, "10 rows on both nodes", func() bool {
		return count(t, d1, "SELECT COUNT(*) FROM app.items") == 10 && count(t, d2, "SELECT COUNT(*) FROM app.items") == 10
	})
	if n := count(t, d1, "SELECT COUNT(*) FROM app.items WHERE (node='node1' AND id%2=0) OR (node='node2' AND id%2=1)"); n != 0 {
		t.Fatalf("%d rows have ids outside their node's auto-increment offset", n)
	}

	// A re-run on a healthy pair changes nothing.
	r = l.setup(t)
	if r.Code != 0 || !strings.Contains(r.Stdout, "nothing changed") || strings.Contains(r.Stdout, "CHANGED") {
		t.Fatalf("re-run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := l.ctl(t, "replication", "status"); r.Code != 0 || strings.Count(r.Stdout, "Yes") != 4 {
		t.Fatalf("status of a healthy pair: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// Break it: a stopped IO thread.
	l.db2.Exec(t, "STOP SLAVE 'node1' IO_THREAD")
	if r := l.ctl(t, "replication", "status"); r.Code != 1 || !strings.Contains(r.Stderr, "connection 'node1'") || !strings.Contains(r.Stderr, "IO No") {
		t.Fatalf("status with a stopped IO thread: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := l.setup(t); r.Code != 0 || !strings.Contains(r.Stdout, "CHANGED connection 'node1'") {
		t.Fatalf("repair of a stopped thread: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// A changed replication password: the IO thread is refused (1045).
	l.db1.Exec(t, "SET SESSION sql_log_bin=0; ALTER USER 'repl'@'%' IDENTIFIED BY 'changed-by-someone'; SET SESSION sql_log_bin=1")
	l.db2.Exec(t, "STOP SLAVE 'node1'; START SLAVE 'node1'")
	eventually(t, "status reports error 1045", func() bool {
		r := l.ctl(t, "replication", "status")
		return r.Code == 1 && strings.Contains(r.Stderr, "1045")
	})
	if r := l.setup(t); r.Code != 0 || !strings.Contains(r.Stdout, "password reset") {
		t.Fatalf("repair of a changed password: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// One side missing: node2's connection is removed entirely.
	l.db2.Exec(t, "STOP SLAVE 'node1'; RESET SLAVE 'node1' ALL")
	l.db1.Exec(t, "INSERT INTO app.items (node) VALUES ('gap')")
	if r := l.ctl(t, "replication", "status"); r.Code != 1 || !strings.Contains(r.Stderr, "no replication connection") {
		t.Fatalf("status with a missing connection: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := l.setup(t); r.Code != 0 || !strings.Contains(r.Stdout, "created with MASTER_USE_GTID=slave_pos") {
		t.Fatalf("repair of a missing connection: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	eventually(t, "the row written while the connection was gone arrives", func() bool {
		return count(t, d2, "SELECT COUNT(*) FROM app.items WHERE node='gap'") == 1
	})

	// A duplicate key on the SQL thread (1062) is reported plainly, and
	// setup refuses to paper over it.
	l.db2.Exec(t, "SET SESSION sql_log_bin=0; INSERT INTO app.items (id, node) VALUES (1000, 'local'); SET SESSION sql_log_bin=1")
	l.db1.Exec(t, "INSERT INTO app.items (id, node) VALUES (1000, 'node1')")
	eventually(t, "status reports error 1062", func() bool {
		r := l.ctl(t, "replication", "status")
		return r.Code == 1 && strings.Contains(r.Stderr, "1062") && strings.Contains(r.Stderr, "collides")
	})
	if r := l.setup(t); r.Code != 1 || !strings.Contains(r.Stderr, "1062") {
		t.Fatalf("setup over a 1062: want exit 1 naming it, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, r := range []labtest.Result{l.setup(t)} {
		if strings.Contains(r.Stdout+r.Stderr, "changed-by-someone") {
			t.Fatal("a password was printed")
		}
	}
}

func TestReplication_PreflightAndBadCredentialsChangeNothing(t *testing.T) {
	// node2 has no log_slave_updates, and its agent has a wrong admin password.
	l := newReplLab(t, labtest.MariaDBOptions{ServerID: 7, LogSlaveUpdates: true}, labtest.MariaDBOptions{ServerID: 8})
	r := l.setup(t)
	if r.Code != 1 || !strings.Contains(r.Stderr, "log_slave_updates = ON") || !strings.Contains(r.Stderr, "nothing was changed") {
		t.Fatalf("preflight without log_slave_updates: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	d1 := l.db1.DB(t)
	if n := count(t, d1, "SELECT COUNT(*) FROM mysql.user WHERE user='repl'"); n != 0 {
		t.Fatal("preflight failure created the replication user on node1")
	}
	var domain int
	if err := d1.QueryRowContext(context.Background(), "SELECT @@gtid_domain_id").Scan(&domain); err != nil || domain != 0 {
		t.Fatalf("preflight failure changed gtid_domain_id on node1: %d %v", domain, err)
	}

	bad := newReplLab(t, labtest.MariaDBOptions{ServerID: 3, LogSlaveUpdates: true}, labtest.MariaDBOptions{ServerID: 4, LogSlaveUpdates: true},
		"LABAGENT_MARIADB_PASSWORD=wrong-password")
	r = bad.setup(t)
	if r.Code != 1 || !strings.Contains(r.Stderr, "node2") || !strings.Contains(r.Stderr, "refused the agent's admin credentials") {
		t.Fatalf("wrong admin password: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if strings.Contains(r.Stdout+r.Stderr, "wrong-password") {
		t.Fatal("the admin password was printed")
	}
	if n := count(t, bad.db1.DB(t), "SELECT COUNT(*) FROM mysql.user WHERE user='repl'"); n != 0 {
		t.Fatal("a failed preflight changed node1")
	}

	clash := newReplLab(t, labtest.MariaDBOptions{ServerID: 5, LogSlaveUpdates: true}, labtest.MariaDBOptions{ServerID: 5, LogSlaveUpdates: true})
	if r := clash.setup(t); r.Code != 1 || !strings.Contains(r.Stderr, "server_id 5 is used by node1 and node2") {
		t.Fatalf("server_id clash: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestReplication_SeedAnEmptyPeer(t *testing.T) {
	l := newReplLab(t, labtest.MariaDBOptions{ServerID: 11, LogSlaveUpdates: true}, labtest.MariaDBOptions{ServerID: 12, LogSlaveUpdates: true})
	l.db1.Exec(t, "CREATE DATABASE app; CREATE TABLE app.items (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20)); INSERT INTO app.items (v) VALUES ('a'),('b'),('c'),('d'),('e')")
	d1, d2 := l.db1.DB(t), l.db2.DB(t)

	r := l.setup(t, "--seed-from", "node1")
	if r.Code != 0 || !strings.Contains(r.Stdout, "seed: loaded app from node1") || !strings.Contains(r.Stdout, "verified") {
		t.Fatalf("setup --seed-from node1: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if n := count(t, d2, "SELECT COUNT(*) FROM app.items"); n != 5 {
		t.Fatalf("node2 has %d seeded rows, want 5", n)
	}
	// Replication starts right after the dump: new rows flow both ways,
	// nothing is applied twice.
	l.db1.Exec(t, "INSERT INTO app.items (v) VALUES ('from node1')")
	l.db2.Exec(t, "INSERT INTO app.items (v) VALUES ('from node2')")
	eventually(t, "7 rows on both nodes", func() bool {
		return count(t, d1, "SELECT COUNT(*) FROM app.items") == 7 && count(t, d2, "SELECT COUNT(*) FROM app.items") == 7
	})
	if r := l.ctl(t, "replication", "status"); r.Code != 0 {
		t.Fatalf("status after seeding: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = l.setup(t, "--seed-from", "node1")
	if r.Code != 0 || !strings.Contains(r.Stdout, "not seeding") || !strings.Contains(r.Stdout, "nothing changed") {
		t.Fatalf("re-run with --seed-from: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// A target that has data of its own is not overwritten without --force.
	busy := newReplLab(t, labtest.MariaDBOptions{ServerID: 13, LogSlaveUpdates: true}, labtest.MariaDBOptions{ServerID: 14, LogSlaveUpdates: true})
	busy.db1.Exec(t, "CREATE DATABASE app")
	busy.db2.Exec(t, "CREATE DATABASE other")
	r = busy.setup(t, "--seed-from", "node1")
	if r.Code != 1 || !strings.Contains(r.Stderr, "holds databases of its own (other)") || !strings.Contains(r.Stderr, "nothing was changed") || !strings.Contains(r.Stderr, "--force") {
		t.Fatalf("seeding a node with data: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
