package checks_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

// BenchmarkPlugins_VsPeers runs each labfleet plugin and the peer that
// operators use for the same job, alternately, against the same targets,
// and reports mean and p95 wall time and peak RSS.
//
// Each plugin runs 50 times per benchmark iteration; run it once:
//
//	go test -run '^$' -bench Plugins_VsPeers -benchtime 1x ./plugins/checks/
func BenchmarkPlugins_VsPeers(b *testing.B) {
	dir := pt.Dir(b)
	peers := "/usr/lib/nagios/plugins"

	// A MariaDB pair: db2 replicates from db1 over the named connection 'node1'.
	db1 := labtest.StartMariaDB(b, labtest.MariaDBOptions{ServerID: 1, LogSlaveUpdates: true})
	db2 := labtest.StartMariaDB(b, labtest.MariaDBOptions{ServerID: 2, LogSlaveUpdates: true})
	db1.Exec(b, "SET SESSION sql_log_bin=0; CREATE USER 'repl'@'127.%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.%'")
	db2.Exec(b, "SET SESSION sql_log_bin=0; CREATE USER 'monitor'@'127.%' IDENTIFIED BY 'mon-pw'; GRANT REPLICA MONITOR ON *.* TO 'monitor'@'127.%'")
	db2.Exec(b, fmt.Sprintf("CHANGE MASTER 'node1' TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='repl', MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos; START SLAVE 'node1'", db1.IP, db1.Port))
	pw := filepath.Join(b.TempDir(), "pw")
	os.WriteFile(pw, []byte("mon-pw\n"), 0o600)

	// An agent, and a web server standing in for the app.
	agent := labtest.StartAgent(b, labtest.AgentOptions{Name: "bench-plugins", Mode: labtest.Insecure})
	ah, ap, _ := net.SplitHostPort(agent.Addr)
	web := labtest.LoopbackIP()
	l, err := net.Listen("tcp", web+":0")
	if err != nil {
		b.Fatal(err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("v1")) }))
	_, wp, _ := net.SplitHostPort(l.Addr().String())

	// NRPE serving check_load, the usual way to watch a node's load.
	nrpeIP := labtest.LoopbackIP()
	cfg := filepath.Join(b.TempDir(), "nrpe.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf("server_address=%s\nserver_port=5666\nallowed_hosts=127.0.0.0/8\nnrpe_user=nagios\nnrpe_group=nagios\ndont_blame_nrpe=0\npid_file=%s/nrpe.pid\ncommand[check_load]=%s/check_load -r -w 2,2,2 -c 4,4,4\n",
		nrpeIP, b.TempDir(), peers)), 0o644)
	nrpe := exec.Command(labtest.Tool(b, "nrpe"), "-c", cfg, "-f", "-n")
	if err := nrpe.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nrpe.Process.Kill(); nrpe.Wait() })
	time.Sleep(300 * time.Millisecond)

	type cmd struct {
		name, bin string
		args      []string
	}
	pairs := [][2]cmd{
		{{"check_replication", dir + "/check_replication", []string{"-H", db2.IP, "-P", fmt.Sprint(db2.Port), "-u", "monitor", "--password-file", pw}},
			{"check_mysql -S (C)", peers + "/check_mysql", []string{"-H", db2.IP, "-P", fmt.Sprint(db2.Port), "-u", "monitor", "-p", "mon-pw", "-S"}}},
		{{"check_app", dir + "/check_app", []string{"-H", web, "-p", wp, "-u", "/version"}},
			{"check_http (C)", peers + "/check_http", []string{"-H", web, "-p", wp, "-u", "/version"}}},
		{{"check_app", dir + "/check_app", []string{"-H", web, "-p", wp, "-u", "/version"}},
			{"check_curl (C)", peers + "/check_curl", []string{"-H", web, "-p", wp, "-u", "/version"}}},
		{{"check_node", dir + "/check_node", []string{"-H", ah, "-p", ap, "--insecure"}},
			{"check_nrpe + check_load (C)", peers + "/check_nrpe", []string{"-H", nrpeIP, "-n", "-c", "check_load"}}},
		{{"check_labagent", dir + "/check_labagent", []string{"-H", ah, "-p", ap, "--insecure"}}, {}},
	}
	type stats struct {
		wall []time.Duration
		rss  int64
		code int
		out  string // the first line the plugin printed
	}
	// Wall time is measured on a direct exec. Peak RSS comes from GNU
	// time, which forks the plugin itself: a child forked by Go starts on
	// the Go process's memory, and the kernel would count that peak.
	timeBin := labtest.Tool(b, "time")
	rssOut := filepath.Join(b.TempDir(), "rss")
	run := func(c cmd, s *stats) {
		e := exec.Command(c.bin, c.args...)
		t0 := time.Now()
		_ = e.Run()
		s.wall = append(s.wall, time.Since(t0))
		s.code = e.ProcessState.ExitCode()
		if s.out == "" {
			o, _ := exec.Command(c.bin, c.args...).Output()
			s.out = strings.SplitN(string(o), "\n", 2)[0]
		}
		_ = exec.Command(timeBin, append([]string{"-f", "%M", "-o", rssOut, c.bin}, c.args...)...).Run()
		if raw, err := os.ReadFile(rssOut); err == nil {
			// GNU time puts "Command exited with non-zero status N" first.
			lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
			var kb int64
			fmt.Sscan(lines[len(lines)-1], &kb)
			s.rss = max(s.rss, kb)
		}
	}
	results := map[string]*stats{}
	const runs = 50
	for i := 0; i < b.N*runs; i++ {
		for _, p := range pairs {
			for _, c := range p {
				if c.bin == "" {
					continue
				}
				if results[c.name] == nil {
					results[c.name] = &stats{}
				}
				run(c, results[c.name])
			}
		}
	}
	var rows []string
	for name, s := range results {
		sort.Slice(s.wall, func(i, j int) bool { return s.wall[i] < s.wall[j] })
		var sum time.Duration
		for _, w := range s.wall {
			sum += w
		}
		mean := sum / time.Duration(len(s.wall))
		p95 := s.wall[len(s.wall)*95/100]
		rows = append(rows, fmt.Sprintf("| %s | %d | %.1f ms | %.1f ms | %.1f MB | exit %d |", name, len(s.wall),
			float64(mean.Microseconds())/1000, float64(p95.Microseconds())/1000, float64(s.rss)/1024, s.code))
		b.ReportMetric(float64(mean.Microseconds())/1000, strings.ReplaceAll(strings.Fields(name)[0], "_", "-")+"-ms")
	}
	sort.Strings(rows)
	for name, s := range results {
		fmt.Printf("%s: %s\n", name, s.out)
	}
	fmt.Printf("\n| plugin | runs | mean | p95 | peak RSS | last exit |\n|---|---|---|---|---|---|\n%s\n", strings.Join(rows, "\n"))
}
