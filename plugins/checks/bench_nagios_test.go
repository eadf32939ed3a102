package checks_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

// BenchmarkNagios_Throughput runs a real Nagios Core with many services
// that call labfleet's plugins every few seconds, at rising loads, and
// reports the checks per second it sustained and the check latency Nagios
// itself measured (how late checks started).
//
//	go test -run '^$' -bench Nagios_Throughput -benchtime 1x ./plugins/checks/
func BenchmarkNagios_Throughput(b *testing.B) {
	dir := pt.Dir(b)
	agent := labtest.StartAgent(b, labtest.AgentOptions{Name: "bench-nagios", Mode: labtest.Insecure})
	ah, ap, _ := net.SplitHostPort(agent.Addr)
	db := labtest.StartMariaDB(b, labtest.MariaDBOptions{ServerID: 1})
	db.Exec(b, "SET SESSION sql_log_bin=0; CREATE USER 'monitor'@'127.%' IDENTIFIED BY 'mon-pw'; GRANT REPLICA MONITOR ON *.* TO 'monitor'@'127.%'")
	pw := filepath.Join(b.TempDir(), "pw")
	os.WriteFile(pw, []byte("mon-pw\n"), 0o600)
	wl, err := net.Listen("tcp", labtest.LoopbackIP()+":0")
	if err != nil {
		b.Fatal(err)
	}
	go http.Serve(wl, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("v1")) }))
	wh, wp, _ := net.SplitHostPort(wl.Addr().String())

	commands := []string{
		fmt.Sprintf("%s/check_labagent -H %s -p %s --insecure", dir, ah, ap),
		fmt.Sprintf("%s/check_node -H %s -p %s --insecure", dir, ah, ap),
		fmt.Sprintf("%s/check_app -H %s -p %s -u /version", dir, wh, wp),
		fmt.Sprintf("%s/check_replication -H %s -P %d -u monitor --password-file %s --min-connections 0", dir, db.IP, db.Port, pw),
	}
	fmt.Printf("\n| services | interval | offered checks/s | done checks/s | latency p50 | latency p95 | latency max | non-OK |\n|---|---|---|---|---|---|---|---|\n")
	for _, services := range []int{40, 240, 480, 960} {
		const interval = 4 // seconds
		var obj strings.Builder
		obj.WriteString(labtest.NagiosBaseObjects)
		obj.WriteString(`define host {
 host_name bench
 address 127.0.0.1
 check_command check_true
 max_check_attempts 1
 check_interval 600
 check_period always
 contacts nobody
}
`)
		for i, c := range commands {
			fmt.Fprintf(&obj, "define command {\n command_name bench%d\n command_line %s\n}\n", i, c)
		}
		obj.WriteString("define command {\n command_name check_true\n command_line /bin/true\n}\n")
		for i := range services {
			fmt.Fprintf(&obj, "define service {\n host_name bench\n service_description svc%03d\n check_command bench%d\n max_check_attempts 1\n check_interval %d\n retry_interval %d\n active_checks_enabled 1\n check_period always\n contacts nobody\n}\n",
				i, i%len(commands), interval, interval)
		}
		n := labtest.StartNagios(b, labtest.NagiosOptions{Objects: obj.String(), IntervalLength: time.Second,
			Main: []string{"max_service_check_spread=1", "max_concurrent_checks=0", "check_result_reaper_frequency=1", "service_inter_check_delay_method=s"}})
		time.Sleep(2 * interval * time.Second) // warm up: every service scheduled at least once
		start := checks(b, n)
		t0 := time.Now()
		time.Sleep(30 * time.Second)
		end := checks(b, n)
		took := time.Since(t0)
		done, bad, unchecked := 0, 0, 0
		var lat []float64
		example := ""
		for k, e := range end {
			if start[k].count <= 0 || e.count <= 0 {
				unchecked++ // not yet checked when the window opened
				continue
			}
			done += int((float64(e.count-start[k].count) / interval) + 0.5)
			lat = append(lat, e.latency)
			if e.state != 0 {
				bad++
				example = e.output
			}
		}
		if unchecked > 0 || example != "" {
			fmt.Printf("(%d services: %d not checked before the window; a non-OK output: %q)\n", services, unchecked, example)
		}
		sort.Float64s(lat)
		fmt.Printf("| %d | %ds | %.1f | %.1f | %.2f s | %.2f s | %.2f s | %d |\n", services, interval, float64(services)/interval,
			float64(done)/took.Seconds(), lat[len(lat)/2], lat[len(lat)*95/100], lat[len(lat)-1], bad)
		b.ReportMetric(float64(done)/took.Seconds(), fmt.Sprintf("checks/s@%d", services))
		n.Stop()
	}
}

type svcCount struct {
	count   int
	latency float64
	state   int
	output  string
}

// checks reads status.dat: per service, last_check (checks done over a
// window = its advance divided by the interval) and the latency Nagios
// recorded for the last check.
func checks(b *testing.B, n *labtest.Nagios) map[string]svcCount {
	st := n.Status(b)
	out := map[string]svcCount{}
	for _, s := range st.Services {
		lat, _ := strconv.ParseFloat(s.Fields["check_latency"], 64)
		last := 0
		if s.HasBeenChecked {
			last = int(s.LastCheck.Unix())
		}
		out[s.ServiceDescription] = svcCount{count: last, latency: lat, state: s.CurrentState, output: s.PluginOutput}
	}
	return out
}
