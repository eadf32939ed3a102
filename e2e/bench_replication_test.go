package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// BenchmarkReplication_Setup times `labcontroller replication setup` from
// two fresh MariaDB servers (each with its agent, mTLS) to verified two-way
// replication. Starting the servers and agents is not timed.
//
//	go test -run '^$' -bench Replication_Setup -benchtime 5x ./e2e/
func BenchmarkReplication_Setup(b *testing.B) {
	var total time.Duration
	var worst time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := newReplLab(b, labtest.MariaDBOptions{ServerID: 2*i + 1, LogSlaveUpdates: true}, labtest.MariaDBOptions{ServerID: 2*i + 2, LogSlaveUpdates: true})
		b.StartTimer()
		t0 := time.Now()
		r := controller(b, append(append([]string{"-i", l.inv}, l.tls...), "replication", "setup", "--state-dir", l.stateDir)...)
		d := time.Since(t0)
		b.StopTimer()
		if r.Code != 0 || !strings.Contains(r.Stdout, "verified") {
			b.Fatalf("setup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/setup")
	b.ReportMetric(worst.Seconds(), "worst-s")
}

// BenchmarkReplication_PluginVsCheckMySQL runs check_replication (built as
// `make build` builds it) and monitoring-plugins' `check_mysql -S`
// alternately against the same replica, whose one connection is the
// default (unnamed) one so that check_mysql, which reads only that one,
// checks the same thing. It reports mean, median and p95 wall time of each,
// the ratio of the means, and how many times each logged in to the replica
// per run (the server's Connections counter, read on a connection held open
// for the purpose).
//
// Each program runs 200 times per iteration; run it once:
//
//	go test -run '^$' -bench Replication_PluginVsCheckMySQL -benchtime 1x ./e2e/
//
// LABFLEET_BENCH_BASELINE=PATH (a labfleet-checks built from another
// commit) adds its check_replication to the same run.
func BenchmarkReplication_PluginVsCheckMySQL(b *testing.B) {
	const runs = 200
	checkMySQL := "/usr/lib/nagios/plugins/check_mysql"
	if _, err := os.Stat(checkMySQL); err != nil {
		b.Fatalf("%s: %v (run make deps: monitoring-plugins-basic)", checkMySQL, err)
	}
	dir := b.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, "labfleet-checks"), "./plugins/cmd/labfleet-checks")
	build.Dir, build.Env = labtest.RepoRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build labfleet-checks: %v\n%s", err, out)
	}
	plugin := filepath.Join(dir, "check_replication")
	if err := os.Symlink("labfleet-checks", plugin); err != nil {
		b.Fatal(err)
	}

	master := labtest.StartMariaDB(b, labtest.MariaDBOptions{ServerID: 1, LogSlaveUpdates: true})
	replica := labtest.StartMariaDB(b, labtest.MariaDBOptions{ServerID: 2, LogSlaveUpdates: true})
	master.Exec(b, "SET SESSION sql_log_bin=0; CREATE USER 'repl'@'127.%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.%'")
	replica.Exec(b, "SET SESSION sql_log_bin=0; CREATE USER 'monitor'@'127.%' IDENTIFIED BY 'mon-pw'; GRANT SLAVE MONITOR ON *.* TO 'monitor'@'127.%'")
	replica.Exec(b, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='repl', MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos; START SLAVE", master.IP, master.Port))
	pw := filepath.Join(b.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("mon-pw\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(replica.Port)
	progs := []struct {
		name, metric, bin string
		args              []string
	}{
		{"check_replication", "plugin", plugin, []string{"-H", replica.IP, "-P", port, "-u", "monitor", "--password-file", pw}},
		{"check_mysql -S", "check-mysql", checkMySQL, []string{"-H", replica.IP, "-P", port, "-u", "monitor", "-p", "mon-pw", "-S"}},
	}
	// LABFLEET_BENCH_BASELINE=/path/to/an/older/labfleet-checks adds that
	// build's check_replication to the same run, for before/after figures.
	if base := os.Getenv("LABFLEET_BENCH_BASELINE"); base != "" {
		link := filepath.Join(b.TempDir(), "check_replication")
		if err := os.Symlink(base, link); err != nil {
			b.Fatal(err)
		}
		progs = append(progs, progs[0])
		progs[2].name, progs[2].bin, progs[2].metric = "check_replication (baseline)", link, "baseline"
	}

	// One held connection reads the counter, so reading it adds no login.
	ctx := context.Background()
	counter, err := replica.DB(b).Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer counter.Close()
	connections := func() int {
		var name string
		var n int
		if err := counter.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Connections'").Scan(&name, &n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	eventuallyB(b, "the replica's IO and SQL threads running", func() bool {
		out, _ := exec.Command(checkMySQL, progs[1].args...).Output()
		return strings.Contains(string(out), "Slave IO: Yes Slave SQL: Yes")
	})

	type stats struct {
		wall   []time.Duration
		logins int
		first  string
	}
	res := make([]stats, len(progs))
	for i := range progs {
		out, _ := exec.Command(progs[i].bin, progs[i].args...).Output()
		res[i].first, _, _ = strings.Cut(string(out), "\n")
		if len(res[i].first) > 100 {
			res[i].first = res[i].first[:100] + "..."
		}
	}
	b.ResetTimer()
	for n := 0; n < b.N*runs; n++ {
		for i, p := range progs {
			before := connections()
			cmd := exec.Command(p.bin, p.args...)
			t0 := time.Now()
			err := cmd.Run()
			res[i].wall = append(res[i].wall, time.Since(t0))
			res[i].logins += connections() - before
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				b.Fatalf("%s exited %d (%v): first run said %q", p.name, code, err, res[i].first)
			}
		}
	}
	b.StopTimer()
	means := make([]float64, len(progs))
	fmt.Printf("\n| program | runs | mean | median | p95 | logins per run | output |\n|---|---|---|---|---|---|---|\n")
	for i, p := range progs {
		w := res[i].wall
		slices.Sort(w)
		var sum time.Duration
		for _, d := range w {
			sum += d
		}
		means[i] = sum.Seconds() * 1000 / float64(len(w))
		fmt.Printf("| %s | %d | %.2f ms | %.2f ms | %.2f ms | %.2f | `%s` |\n", p.name, len(w), means[i],
			w[len(w)/2].Seconds()*1000, w[len(w)*95/100].Seconds()*1000, float64(res[i].logins)/float64(len(w)), res[i].first)
		b.ReportMetric(means[i], p.metric+"-ms")
		b.ReportMetric(float64(res[i].logins)/float64(len(w)), p.metric+"-logins/run")
	}
	fmt.Printf("\nratio check_replication / check_mysql -S (mean wall time): %.2fx\n", means[0]/means[1])
	b.ReportMetric(means[0]/means[1], "ratio")
}

// eventuallyB waits up to 30 s for cond.
func eventuallyB(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
