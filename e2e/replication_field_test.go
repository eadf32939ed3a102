package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	"github.com/labfleet/labfleet/internal/pki"
)

// fieldLab is MariaDB servers set up the way people set up servers: the
// binary log on from the first statement, an admin account created by
// hand on each (the same CREATE USER on every node), and whatever the test
// adds locally, all in domain 0 and kept in the binlog. Each server has its
// own agent (mTLS); the inventory names them node1..nodeN.
type fieldLab struct {
	dbs    []*labtest.MariaDB
	agents []*labtest.Agent
	inv    string
	tls    []string
	state  string
	certs  string
}

func newFieldLab(t *testing.T, n int) *fieldLab {
	t.Helper()
	l := &fieldLab{state: t.TempDir(), certs: t.TempDir()}
	var hosts []pki.Host
	var ips []string
	for i := 1; i <= n; i++ {
		db := labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: i, LogSlaveUpdates: true, FieldState: true})
		db.Exec(t, "CREATE USER 'labadmin'@'%' IDENTIFIED BY 'admin-pw'")
		db.Exec(t, "GRANT ALL PRIVILEGES ON *.* TO 'labadmin'@'%' WITH GRANT OPTION")
		l.dbs = append(l.dbs, db)
		ip := labtest.LoopbackIP()
		ips = append(ips, ip)
		hosts = append(hosts, pki.Host{Name: fmt.Sprintf("node%d", i), Addrs: []string{ip}})
	}
	if _, err := pki.Init(pki.Options{Dir: l.certs, Hosts: hosts}); err != nil {
		t.Fatal(err)
	}
	for i, db := range l.dbs {
		l.agents = append(l.agents, labtest.StartAgent(t, labtest.AgentOptions{Name: hosts[i].Name, Mode: labtest.MTLS, Certs: l.certs, IP: ips[i],
			Args: []string{"--mariadb-addr", db.Addr, "--mariadb-user", "root"},
			Env:  []string{"LABAGENT_MARIADB_PASSWORD=" + db.RootPassword}}))
	}
	l.writeInventory(t, n)
	l.tls = []string{"--ca", filepath.Join(l.certs, "ca.crt"), "--cert", filepath.Join(l.certs, "labcontroller.crt"), "--key", filepath.Join(l.certs, "labcontroller.key")}
	return l
}

// writeInventory lists the first n nodes.
func (l *fieldLab) writeInventory(t *testing.T, n int) {
	var b strings.Builder
	b.WriteString("[nodes]\n")
	for i := 0; i < n; i++ {
		h, p := hostPort(l.agents[i].Addr)
		fmt.Fprintf(&b, "%s ansible_host=%s labagent_port=%s mariadb_host=%s mariadb_port=%d\n", l.agents[i].Name, h, p, l.dbs[i].IP, l.dbs[i].Port)
	}
	l.inv = writeFile(t, fmt.Sprintf("inv%d.ini", n), b.String())
}

func (l *fieldLab) ctl(t *testing.T, args ...string) labtest.Result {
	t.Helper()
	return controller(t, append(append([]string{"-i", l.inv}, l.tls...), args...)...)
}

func (l *fieldLab) setup(t *testing.T, extra ...string) labtest.Result {
	t.Helper()
	return l.ctl(t, append([]string{"replication", "setup", "--state-dir", l.state, "--timeout", "20s"}, extra...)...)
}

// serverState is what a refused setup must leave exactly as it was.
func serverState(t *testing.T, db *sql.DB) string {
	t.Helper()
	var s strings.Builder
	for _, q := range []string{"SELECT @@GLOBAL.gtid_binlog_pos", "SELECT @@GLOBAL.gtid_slave_pos", "SELECT @@GLOBAL.gtid_domain_id",
		"SELECT @@GLOBAL.auto_increment_offset", "SELECT @@GLOBAL.auto_increment_increment", "SELECT COUNT(*) FROM mysql.user WHERE User = 'repl'",
		"SELECT GROUP_CONCAT(schema_name ORDER BY schema_name) FROM information_schema.schemata"} {
		var v sql.NullString
		if err := db.QueryRow(q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		fmt.Fprintf(&s, "%s = %s\n", q, v.String)
	}
	rows, err := db.Query("SHOW ALL SLAVES STATUS")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	fmt.Fprintf(&s, "connections = %d\n", n)
	return s.String()
}

// appData creates the same app database on db, locally (binlog on).
func appData(t *testing.T, db *labtest.MariaDB, rows int) {
	t.Helper()
	db.Exec(t, "CREATE DATABASE app")
	db.Exec(t, "CREATE TABLE app.items (id INT PRIMARY KEY, name VARCHAR(32))")
	db.Exec(t, "CREATE TABLE app.audit (at VARCHAR(32), what VARCHAR(32))") // no primary key
	for i := 1; i <= rows; i++ {
		db.Exec(t, fmt.Sprintf("INSERT INTO app.items VALUES (%d, 'item-%d')", i, i))
		db.Exec(t, fmt.Sprintf("INSERT INTO app.audit VALUES ('t%d', 'insert %d')", i, i))
	}
}

// flows proves rows written on every node reach every other node.
func (l *fieldLab) flows(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		l.dbs[i].Exec(t, fmt.Sprintf("INSERT INTO app.items VALUES (%d, 'from node%d')", 1000+i, i+1))
	}
	for j := 0; j < n; j++ {
		d := l.dbs[j].DB(t)
		eventually(t, fmt.Sprintf("node%d has the rows written on every node", j+1), func() bool {
			return count(t, d, "SELECT COUNT(*) FROM app.items WHERE id >= 1000") == n
		})
	}
	r := l.ctl(t, "replication", "status")
	if r.Code != 0 {
		t.Fatalf("replication status after setup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestReplicationField_HistoryIsRefusedAndNothingChanges(t *testing.T) {
	l := newFieldLab(t, 2)
	before := []string{serverState(t, l.dbs[0].DB(t)), serverState(t, l.dbs[1].DB(t))}
	r := l.setup(t)
	if r.Code != 1 {
		t.Fatalf("setup on servers with history: want exit 1, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"nothing was changed", "node2 has never applied node1's history: 0-1-1..", "node1 has never applied node2's history: 0-2-1..",
		"--start-at current", "--seed-from node1", "1396"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r.Stderr)
		}
	}
	for i, db := range l.dbs {
		if after := serverState(t, db.DB(t)); after != before[i] {
			t.Errorf("node%d changed although setup refused:\nbefore:\n%safter:\n%s", i+1, before[i], after)
		}
	}
	// A dry run says the same, also changing nothing.
	if r := l.setup(t, "--dry-run"); r.Code != 1 || !strings.Contains(r.Stderr, "never applied") {
		t.Fatalf("dry run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestReplicationField_StartAtCurrentOnIdenticalData(t *testing.T) {
	l := newFieldLab(t, 2)
	appData(t, l.dbs[0], 5)
	appData(t, l.dbs[1], 5)
	r := l.setup(t, "--start-at", "current")
	if r.Code != 0 || !strings.Contains(r.Stdout, "identical on every node") || !strings.Contains(r.Stdout, "verified") {
		t.Fatalf("setup --start-at current: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	l.flows(t, 2)
	if r := l.ctl(t, "replication", "check"); r.Code != 0 || !strings.Contains(r.Stdout, "consistent") {
		t.Fatalf("replication check after setup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Re-running changes nothing.
	if r := l.setup(t, "--start-at", "current"); r.Code != 0 || !strings.Contains(r.Stdout, "nothing changed") {
		t.Fatalf("re-run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestReplicationField_StartAtCurrentRefusesDifferentData(t *testing.T) {
	l := newFieldLab(t, 2)
	appData(t, l.dbs[0], 5)
	appData(t, l.dbs[1], 5)
	l.dbs[1].Exec(t, "UPDATE app.items SET name = 'changed on node2' WHERE id = 3")
	before := []string{serverState(t, l.dbs[0].DB(t)), serverState(t, l.dbs[1].DB(t))}
	r := l.setup(t, "--start-at", "current")
	if r.Code != 1 || !strings.Contains(r.Stderr, "differs: app.items") || strings.Contains(r.Stderr, "app.audit") {
		t.Fatalf("setup --start-at current on different data: want exit 1 naming app.items only, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for i, db := range l.dbs {
		if after := serverState(t, db.DB(t)); after != before[i] {
			t.Errorf("node%d changed although setup refused:\nbefore:\n%safter:\n%s", i+1, before[i], after)
		}
	}
}

func TestReplicationField_SeedFromWhileTheAppWrites(t *testing.T) {
	l := newFieldLab(t, 2)
	appData(t, l.dbs[0], 20)
	// node2 holds a database of its own: seeding names it and refuses.
	l.dbs[1].Exec(t, "CREATE DATABASE scratch")
	if r := l.setup(t, "--seed-from", "node1"); r.Code != 1 || !strings.Contains(r.Stderr, "databases of its own (scratch)") {
		t.Fatalf("seed into a node with a database: want exit 1 naming scratch, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	l.dbs[1].Exec(t, "DROP DATABASE scratch")
	// The app keeps writing on node1 through setup.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var written atomic.Int64
	d1 := l.dbs[0].DB(t)
	wg.Go(func() {
		for i := 100; ctx.Err() == nil; i++ {
			if _, err := d1.Exec("INSERT INTO app.items VALUES (?, 'while setting up')", i); err == nil {
				written.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	r := l.setup(t, "--seed-from", "node1")
	stop()
	wg.Wait()
	if r.Code != 0 || !strings.Contains(r.Stdout, "seed: loaded app from node1") {
		t.Fatalf("setup --seed-from node1: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	d2 := l.dbs[1].DB(t)
	want := 20 + int(written.Load())
	eventually(t, "node2 has every row node1 has", func() bool { return count(t, d2, "SELECT COUNT(*) FROM app.items") == want })
	l.flows(t, 2)
	if r := l.ctl(t, "replication", "check"); r.Code != 0 {
		t.Fatalf("replication check after seeding: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestReplicationField_ThirdNodeJoinsLater(t *testing.T) {
	l := newFieldLab(t, 3)
	appData(t, l.dbs[0], 5)
	appData(t, l.dbs[1], 5)
	l.writeInventory(t, 2)
	if r := l.setup(t, "--start-at", "current"); r.Code != 0 {
		t.Fatalf("setup of the first two: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	l.flows(t, 2)
	// node3 has only its own accounts; it joins by seeding from node1.
	l.writeInventory(t, 3)
	r := l.setup(t)
	if r.Code != 1 || !strings.Contains(r.Stderr, "node3 has never applied node1's history") {
		t.Fatalf("adding node3 without saying how: want exit 1, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	before := serverState(t, l.dbs[2].DB(t))
	if r := l.setup(t, "--seed-from", "node1"); r.Code != 0 || !strings.Contains(r.Stdout, "verified") || !strings.Contains(r.Stdout, "seed: loaded app from node1") {
		t.Fatalf("node3 joins with --seed-from node1: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	} else if before == serverState(t, l.dbs[2].DB(t)) {
		t.Fatal("node3 unchanged after joining")
	}
	l.dbs[0].Exec(t, "DELETE FROM app.items WHERE id >= 1000")
	for _, db := range l.dbs {
		d := db.DB(t)
		eventually(t, "the delete reaches every node", func() bool { return count(t, d, "SELECT COUNT(*) FROM app.items WHERE id >= 1000") == 0 })
	}
	l.flows(t, 3)
	if r := l.ctl(t, "replication", "check"); r.Code != 0 {
		t.Fatalf("replication check of three: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Every connection runs, with no error, on every node.
	if r := l.ctl(t, "replication", "status"); r.Code != 0 || strings.Count(r.Stdout, "Yes") != 12 {
		t.Fatalf("status of three: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestReplicationField_ThreeFreshNodesAtOnce: three servers, each with its
// own domain-0 history and the same data, set up in one run.
func TestReplicationField_ThreeFreshNodesAtOnce(t *testing.T) {
	l := newFieldLab(t, 3)
	for _, db := range l.dbs {
		appData(t, db, 4)
	}
	if r := l.setup(t, "--start-at", "current"); r.Code != 0 || !strings.Contains(r.Stdout, "verified") {
		st := l.ctl(t, "replication", "status")
		t.Fatalf("setup of three: exit %d\n%s%s\nstatus:\n%s%s", r.Code, r.Stdout, r.Stderr, st.Stdout, st.Stderr)
	}
	l.flows(t, 3)
	if r := l.ctl(t, "replication", "check"); r.Code != 0 {
		t.Fatalf("replication check of three: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestReplicationField_CheckFindsDivergenceAndErrantTransactions(t *testing.T) {
	l := newFieldLab(t, 2)
	appData(t, l.dbs[0], 5)
	appData(t, l.dbs[1], 5)
	if r := l.setup(t, "--start-at", "current"); r.Code != 0 {
		t.Fatalf("setup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	l.flows(t, 2)

	// A row changed on node2 outside the binlog: only checksums see it.
	conn, err := l.dbs[1].DB(t).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"SET SESSION sql_log_bin = 0", "UPDATE app.items SET name = 'quietly changed' WHERE id = 2", "SET SESSION sql_log_bin = 1"} {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r := l.ctl(t, "replication", "check")
	if r.Code != 1 || !strings.Contains(r.Stdout, "DIFFERS   app.items") || strings.Contains(r.Stdout, "app.audit") {
		t.Fatalf("check after a change outside the binlog: want exit 1 naming app.items, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := l.ctl(t, "replication", "check", "-o", "json"); r.Code != 1 || !strings.Contains(r.Stdout, `"table": "app.items"`) {
		t.Fatalf("check -o json: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Put it back, then write in node1's domain on node2: an errant transaction.
	if _, err := conn.ExecContext(context.Background(), "UPDATE app.items SET name = 'item-2' WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	var dom1 int
	if err := l.dbs[0].DB(t).QueryRow("SELECT @@GLOBAL.gtid_domain_id").Scan(&dom1); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{fmt.Sprintf("SET SESSION gtid_domain_id = %d", dom1), "INSERT INTO app.items VALUES (77, 'errant')"} {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	eventually(t, "the errant row reaches node1", func() bool { return count(t, l.dbs[0].DB(t), "SELECT COUNT(*) FROM app.items WHERE id = 77") == 1 })
	r = l.ctl(t, "replication", "check")
	if r.Code != 1 || !strings.Contains(r.Stdout, fmt.Sprintf("ERRANT    node2 wrote %d-2-", dom1)) {
		t.Fatalf("check after an errant transaction: want exit 1 naming it, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestReplicationField_CheckFaults(t *testing.T) {
	l := newFieldLab(t, 2)
	appData(t, l.dbs[0], 3)
	appData(t, l.dbs[1], 3)
	// A table locked for longer than --lock-wait is named, not waited for.
	conn, err := l.dbs[1].DB(t).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "LOCK TABLES app.items WRITE"); err != nil {
		t.Fatal(err)
	}
	r := l.ctl(t, "replication", "check", "--lock-wait", "1s")
	if r.Code != 2 || !strings.Contains(r.Stdout, "UNCHECKED node2: app.items: locked by another session") {
		t.Fatalf("check with a locked table: want exit 2 naming it, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	conn.ExecContext(context.Background(), "UNLOCK TABLES")
	conn.Close()
	// A node whose agent is gone: exit 2 naming it.
	l.agents[1].Stop()
	r = l.ctl(t, "replication", "check")
	if r.Code != 2 || !strings.Contains(r.Stderr, "node2") {
		t.Fatalf("check with node2's agent down: want exit 2 naming node2, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// And setup's preflight: it names node2 and changes nothing on node1.
	before := serverState(t, l.dbs[0].DB(t))
	r = l.setup(t, "--start-at", "current")
	if r.Code != 1 || !strings.Contains(r.Stderr, "nothing was changed") || !strings.Contains(r.Stderr, "node2: ") {
		t.Fatalf("setup with node2's agent down: want exit 1 naming node2, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if after := serverState(t, l.dbs[0].DB(t)); after != before {
		t.Errorf("node1 changed although preflight failed:\nbefore:\n%safter:\n%s", before, after)
	}
}
