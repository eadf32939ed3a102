package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/labfleet/labfleet/internal/haproxy"
	"github.com/labfleet/labfleet/internal/labtest"
	"github.com/labfleet/labfleet/internal/pki"
)

// failoverLab is the lab of LAB.md with everything real: two nodes, each
// with a MariaDB and a labagent (mTLS, agent-check on :7444) on its own
// loopback address, master-master replication set up by labcontroller,
// and the todo app deployed by labcontroller on both (host network,
// :8000, database on the node's own MariaDB). HAProxy is left to the
// test: which configuration in front is what the tests compare.
type failoverLab struct {
	names, ips [2]string
	dbs        [2]*labtest.MariaDB
	agents     [2]*labtest.Agent
	certs      string
	inv        string
	tls        []string
	state      string
	image      string
	// mycnf holds, per node, the my.cnf lines `replication setup` printed,
	// as mariadbd flags: a node restarted without them would forget its
	// GTID domain and auto-increment offset.
	mycnf [2][]string
}

func newFailoverLab(t testing.TB) *failoverLab {
	t.Helper()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e6)
	l := &failoverLab{certs: t.TempDir(), state: t.TempDir()}
	var hosts []pki.Host
	for i := range 2 {
		l.names[i] = fmt.Sprintf("fo%d-%s", i+1, suffix)
		l.ips[i] = labtest.LoopbackIP()
		hosts = append(hosts, pki.Host{Name: l.names[i], Addrs: []string{l.ips[i]}})
		// Before the agents: cleanups run last-in first-out, so the agents
		// stop before their containers are removed.
		removeNodeContainers(t, l.names[i])
	}
	if _, err := pki.Init(pki.Options{Dir: l.certs, Hosts: hosts}); err != nil {
		t.Fatal(err)
	}
	var inv strings.Builder
	inv.WriteString("[nodes]\n")
	for i := range 2 {
		l.dbs[i] = labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: i + 1, IP: l.ips[i], Port: 3306, LogSlaveUpdates: true})
		l.agents[i] = labtest.StartAgent(t, labtest.AgentOptions{Name: l.names[i], Mode: labtest.MTLS, Certs: l.certs, IP: l.ips[i],
			Args: []string{"--mariadb-addr", l.dbs[i].Addr, "--mariadb-user", "root", "--allow-host-network",
				"--agent-check-listen", l.ips[i] + ":7444", "--agent-check-app", "todo"},
			Env: []string{"LABAGENT_MARIADB_PASSWORD=" + l.dbs[i].RootPassword}})
		_, port := hostPort(l.agents[i].Addr)
		fmt.Fprintf(&inv, "%s ansible_host=%s labagent_port=%s mariadb_host=%s mariadb_port=3306", l.names[i], l.ips[i], port, l.ips[i])
		if i == 1 {
			inv.WriteString(" haproxy_backup=true") // the seed's design: node2 takes over
		}
		inv.WriteString("\n")
	}
	l.inv = writeFile(t, "inventory.ini", inv.String())
	l.tls = []string{"--ca", filepath.Join(l.certs, "ca.crt"), "--cert", filepath.Join(l.certs, "labcontroller.crt"), "--key", filepath.Join(l.certs, "labcontroller.key")}

	r := l.ctl(t, "replication", "setup", "--state-dir", l.state, "--timeout", "20s")
	if r.Code != 0 || !strings.Contains(r.Stdout, "verified") {
		t.Fatalf("replication setup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	l.mycnf = myCnfFlags(t, r.Stdout, l.names)

	// The app's database and account, as `make lab` makes them: on node1,
	// replicated to node2.
	l.dbs[0].Exec(t, "CREATE DATABASE todo; CREATE USER 'todo'@'%' IDENTIFIED BY 'todo-pw'; GRANT ALL PRIVILEGES ON todo.* TO 'todo'@'%'")
	d2 := l.dbs[1].DB(t)
	labtest.Eventually(t, 20*time.Second, "the todo account reaches node2", func() string {
		var n int
		if err := d2.QueryRow("SELECT COUNT(*) FROM mysql.user WHERE user = 'todo'").Scan(&n); err != nil || n != 1 {
			return fmt.Sprintf("%d accounts (%v)", n, err)
		}
		return ""
	})

	l.image = labtest.TodoImage(t, "v1")
	pw := filepath.Join(t.TempDir(), "db-password")
	if err := os.WriteFile(pw, []byte("todo-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The lab's deploy (scripts/lab.sh deploy_args), without HAProxy: nothing
	// is in front yet.
	r = l.ctl(t, "deploy", "--app", "todo", "--image", l.image, "--network", "host",
		"--env", "LISTEN=${LABFLEET_PUBLISH_IP}:8000", "--env", "DB_HOST=${LABFLEET_PUBLISH_IP}", "--env", "DB_USER=todo",
		"--secret-env", "DB_PASSWORD=@"+pw, "--health-path", "/healthz", "--health-port", "8000", "--health-interval", "200ms",
		"--pull", "never", "--state-dir", l.state)
	if r.Code != 0 {
		t.Fatalf("deploy todo: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	return l
}

func (l *failoverLab) ctl(t testing.TB, args ...string) labtest.Result {
	t.Helper()
	return controller(t, append(append([]string{"-i", l.inv}, l.tls...), args...)...)
}

// myCnfFlags reads the my.cnf section setup printed for each node
// ("# NODE", "[mariadb]", "key = value" lines) as mariadbd flags.
func myCnfFlags(t testing.TB, out string, names [2]string) [2][]string {
	t.Helper()
	var flags [2][]string
	node := -1
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "# "):
			node = -1
			for i, n := range names {
				if line == "# "+n {
					node = i
				}
			}
		case line == "":
			node = -1
		case node >= 0 && strings.Contains(line, " = "):
			k, v, _ := strings.Cut(line, " = ")
			flags[node] = append(flags[node], "--"+strings.ReplaceAll(k, "_", "-")+"="+v)
		}
	}
	for i, f := range flags {
		if !strings.Contains(strings.Join(f, " "), "--gtid-domain-id=") || !strings.Contains(strings.Join(f, " "), "--auto-increment-offset=") {
			t.Fatalf("setup printed no my.cnf lines with gtid_domain_id and auto_increment_offset for %s (got %q):\n%s", names[i], f, out)
		}
	}
	return flags
}

// generatedBackend is the backend `labcontroller haproxy config
// --agent-check` writes for the lab's inventory, with extra flags, and its
// server lines as labtest.HAProxyServer.
func (l *failoverLab) generatedBackend(t testing.TB, extra ...string) (string, []labtest.HAProxyServer) {
	t.Helper()
	r := l.ctl(t, append([]string{"haproxy", "config", "--port", "8000", "--agent-check"}, extra...)...)
	if r.Code != 0 {
		t.Fatalf("haproxy config --agent-check: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var servers []labtest.HAProxyServer
	for _, line := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "server" || f[3] != "check" {
			continue
		}
		s := labtest.HAProxyServer{Name: f[1], Addr: f[2]}
		rest := f[4:]
		if len(rest) > 0 && rest[0] == "backup" {
			s.Backup, rest = true, rest[1:]
		}
		s.Extra = strings.Join(rest, " ")
		servers = append(servers, s)
	}
	if len(servers) != 2 || servers[0].Backup || !servers[1].Backup || !strings.Contains(servers[0].Extra, "agent-addr "+l.ips[0]+" agent-port 7444") {
		t.Fatalf("haproxy config --agent-check: want %s active and %s backup, each with its agent-check:\n%s", l.names[0], l.names[1], r.Stdout)
	}
	return r.Stdout, servers
}

// crashNode1 kills node1's app container, labagent and MariaDB with
// SIGKILL: the container first, as the failover story has it, or, with
// agentFirst, the agent first, so that it cannot tell HAProxy anything
// (a whole node going away at once).
func (l *failoverLab) crashNode1(t testing.TB, agentFirst bool) {
	t.Helper()
	cs := labtest.RunningContainers(t, labtest.Docker(t), l.names[0], "todo")
	if len(cs) != 1 {
		t.Fatalf("node1 runs %d todo containers, want 1", len(cs))
	}
	if agentFirst {
		l.agents[0].Kill()
	}
	if err := labtest.Docker(t).ContainerKill(context.Background(), cs[0], "KILL"); err != nil {
		t.Fatal(err)
	}
	l.agents[0].Kill()
	l.dbs[0].Kill()
}

// agentCheck is the line node i's labagent answers HAProxy's agent-check.
func (l *failoverLab) agentCheck(i int) string {
	c, err := net.DialTimeout("tcp", l.ips[i]+":7444", time.Second)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// restartNode1 brings node1 back as a reboot would: MariaDB with its my.cnf
// settings (and extra flags), the agent, then the app's container, which
// Docker restarts at boot.
func (l *failoverLab) restartNode1(t testing.TB, mariadbFlags ...string) {
	t.Helper()
	l.dbs[0].StartWith(t, append(append([]string(nil), l.mycnf[0]...), mariadbFlags...)...)
	l.agents[0] = l.agents[0].Restart(t)
	cli := labtest.Docker(t)
	cs := labtest.AppContainers(t, cli, l.names[0], "todo")
	if len(cs) != 1 {
		t.Fatalf("node1 has %d todo containers, want the one that was killed", len(cs))
	}
	if err := cli.ContainerStart(context.Background(), cs[0].ID, container.StartOptions{}); err != nil {
		t.Fatalf("start node1's todo container again: %v", err)
	}
}

// server is HAProxy's view of one server, or why it cannot be read.
func server(h *labtest.HAProxy, name string) (haproxy.Server, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := h.Client().Server(ctx, h.Backend, name)
	if err != nil {
		return s, err.Error()
	}
	return s, ""
}

// titles counts how many of want are rows of todo.items on db.
func titles(t testing.TB, db *sql.DB, want []string) int {
	t.Helper()
	have := map[string]bool{}
	rows, err := db.Query("SELECT title FROM todo.items")
	if err != nil {
		t.Fatalf("read todo.items: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		have[s] = true
	}
	n := 0
	for _, w := range want {
		if have[w] {
			n++
		}
	}
	return n
}

func checksum(db *sql.DB) (rows int, sum int64, err error) {
	if err = db.QueryRow("SELECT COUNT(*) FROM todo.items").Scan(&rows); err != nil {
		return
	}
	var table string
	err = db.QueryRow("CHECKSUM TABLE todo.items EXTENDED").Scan(&table, &sum)
	return
}

// TestFailover_Node1CrashesAndComesBackBehind is the failover story on real
// components: under steady reads and writes through HAProxy (the backend
// `labcontroller haproxy config --agent-check` writes), node1 crashes
// (app container, labagent and MariaDB SIGKILLed); HAProxy moves the
// traffic to node2 and Nagios mails a notification. node1 comes back with
// its replication stopped while node2 keeps taking writes: its agent-check
// holds it at weight 0, out of rotation, until `replication setup` has
// restarted its replication and it has caught up; then traffic returns to
// it. Every row acknowledged to a client is on both nodes, whose tables
// are identical, and `replication check` says so.
func TestFailover_Node1CrashesAndComesBackBehind(t *testing.T) {
	box := mailbox(t)
	l := newFailoverLab(t)
	n1, n2 := l.names[0], l.names[1]
	_, servers := l.generatedBackend(t, "--agent-inter", "500ms")
	hap := labtest.StartHAProxy(t, labtest.HAProxyOptions{Backend: "app", Servers: servers})
	labtest.Eventually(t, 20*time.Second, "HAProxy has both nodes up at full weight", func() string {
		for _, n := range l.names {
			if s, why := server(hap, n); why != "" || !s.Healthy() || s.Weight == 0 {
				return fmt.Sprintf("%s: %+v %s", n, s, why)
			}
		}
		return ""
	})

	// Nagios with the generated config, notifications mailed to a local mailbox.
	out := t.TempDir()
	mon := []string{"--ca", filepath.Join(l.certs, "ca.crt"), "--cert", filepath.Join(l.certs, "nagios.crt"), "--key", filepath.Join(l.certs, "nagios.key")}
	if r := controller(t, append(append([]string{"-i", l.inv}, mon...), "nagios", "config", "--out", out, "--contact-email", mailUser+"@localhost")...); r.Code != 0 {
		t.Fatalf("nagios config: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	nag := labtest.StartNagios(t, labtest.NagiosOptions{ObjectDirs: []string{out}, ResourceFiles: []string{filepath.Join(out, "resource.cfg.example")},
		Resource: map[string]string{"USER2": pluginDir(t)}, ManualChecks: true, Notifications: true})
	if s := nag.CheckService(t, n1, "labagent", 30*time.Second); s.State() != "OK" {
		t.Fatalf("Nagios before the crash: %s", s)
	}

	traffic := labtest.StartTraffic(t, labtest.TrafficOptions{Base: hap.URL(""), Rate: 50, Workers: 128, Prefix: "fo-"})
	time.Sleep(2 * time.Second)
	if before := traffic.Snapshot(); before.ServedBy()[n1] == 0 || before.Failed() != 0 {
		t.Fatalf("before the crash node1 must serve, without failures: %s", before)
	} else {
		t.Logf("before the crash: %s", before)
	}

	// node1 crashes.
	mailed, _ := os.ReadFile(box)
	crashAt := time.Now()
	l.crashNode1(t, false)
	labtest.Eventually(t, 20*time.Second, "HAProxy serves from node2 alone", func() string {
		if s, why := server(hap, n1); why != "" || s.Operational {
			return fmt.Sprintf("node1 still operational: %+v %s", s, why)
		}
		last := traffic.Snapshot().Between(time.Now().Add(-time.Second), time.Time{})
		if len(last.Requests) == 0 || last.Failed() != 0 || last.ServedBy()[n1] != 0 {
			return "the last second: " + last.String()
		}
		return ""
	})
	t.Logf("failover after %v: %s", time.Since(crashAt), traffic.Snapshot().Between(crashAt, time.Time{}))

	// Nagios: max_check_attempts 3, so the third failed check is HARD and mails.
	for range 3 {
		nag.CheckService(t, n1, "labagent", 30*time.Second)
	}
	subject := "labfleet PROBLEM: " + n1 + "/labagent is CRITICAL"
	labtest.Eventually(t, 30*time.Second, "Nagios mails "+subject, func() string {
		b, _ := os.ReadFile(box)
		if len(b) < len(mailed) || !strings.Contains(string(b[len(mailed):]), subject) {
			return "no such mail in " + box + "; nagios.log:\n" + nag.Log()
		}
		return ""
	})

	// node1 comes back with its replication stopped (--skip-slave-start)
	// while node2 keeps taking writes: its agent-check holds it at weight 0.
	l.restartNode1(t, "--skip-slave-start")
	labtest.Eventually(t, 30*time.Second, "node1's app is healthy and HAProxy holds node1 at weight 0", func() string {
		if code, _, err := labtest.HTTPGet("http://" + l.ips[0] + ":8000/healthz"); code != 200 {
			return fmt.Sprintf("node1's /healthz: %d %v", code, err)
		}
		if s, why := server(hap, n1); why != "" || !s.Healthy() || s.Weight != 0 {
			return fmt.Sprintf("node1: %+v %s", s, why)
		}
		return ""
	})
	holdFrom := time.Now()
	time.Sleep(3 * time.Second)
	held := traffic.Snapshot().Between(holdFrom, time.Now())
	answer := l.agentCheck(0)
	if s, why := server(hap, n1); why != "" || s.Weight != 0 || held.ServedBy()[n1] != 0 || held.ServedBy()[n2] == 0 ||
		!strings.HasPrefix(answer, "up 0% #replication: connection '"+n2+"'") {
		t.Fatalf("node1 behind must stay out of rotation: node1 %+v %s; its agent-check says %q; traffic %s", s, why, answer, held)
	}
	// It is behind: node2 acknowledged rows node1 does not have.
	d1, d2 := l.dbs[0].DB(t), l.dbs[1].DB(t)
	var byNode2 []string
	for _, q := range traffic.Snapshot().Between(crashAt, time.Time{}).Requests {
		if q.Write && q.OK() && q.ServedBy == n2 {
			byNode2 = append(byNode2, q.Title)
		}
	}
	if have1, have2 := titles(t, d1, byNode2), titles(t, d2, byNode2); have1 >= have2 || have2 != len(byNode2) {
		t.Fatalf("node1 should be behind: of the %d rows node2 acknowledged since the crash node1 has %d, node2 %d", len(byNode2), have1, have2)
	}
	acked := traffic.Snapshot().Acknowledged()

	// Re-running setup restarts node1's replication (a stopped thread is
	// one of the repairs it makes); once node1 has applied what node2
	// wrote, its agent-check lets it back and the traffic returns.
	if r := l.ctl(t, "replication", "setup", "--state-dir", l.state, "--timeout", "20s"); r.Code != 0 || !strings.Contains(r.Stdout, "CHANGED connection '"+n2+"'") {
		t.Fatalf("replication setup to restart node1's replication: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var backAt time.Time
	labtest.Eventually(t, 30*time.Second, "traffic returns to node1", func() string {
		for _, q := range traffic.Snapshot().Between(holdFrom, time.Time{}).Requests {
			if q.OK() && q.ServedBy == n1 {
				backAt = q.Start
				return ""
			}
		}
		s, _ := server(hap, n1)
		return fmt.Sprintf("node1 %+v", s)
	})
	if have := titles(t, d1, acked); have != len(acked) {
		t.Fatalf("node1 serves again but has %d of the %d rows acknowledged before it caught up", have, len(acked))
	}
	time.Sleep(time.Second)
	res := traffic.Stop()
	if after := res.Between(backAt.Add(500*time.Millisecond), time.Time{}); after.ServedBy()[n2] != 0 || after.Failed() != 0 {
		t.Errorf("after node1 is back, it alone must serve: %s", after)
	}
	t.Logf("whole run: %s", res)

	// Every acknowledged row is on both nodes, the tables are identical,
	// and labcontroller agrees.
	acked = res.Acknowledged()
	labtest.Eventually(t, 30*time.Second, "every acknowledged row on both nodes, tables identical", func() string {
		h1, h2 := titles(t, d1, acked), titles(t, d2, acked)
		r1, c1, e1 := checksum(d1)
		r2, c2, e2 := checksum(d2)
		if h1 != len(acked) || h2 != len(acked) || e1 != nil || e2 != nil || r1 != r2 || c1 != c2 {
			return fmt.Sprintf("of %d acknowledged rows node1 has %d, node2 %d; node1 %d rows checksum %d (%v), node2 %d rows checksum %d (%v)",
				len(acked), h1, h2, r1, c1, e1, r2, c2, e2)
		}
		return ""
	})
	if r := l.ctl(t, "replication", "check"); r.Code != 0 || !strings.Contains(r.Stdout, "consistent") {
		t.Fatalf("replication check: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	} else {
		t.Logf("replication check:\n%s", r.Stdout)
	}
}
