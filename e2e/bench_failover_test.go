package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// BenchmarkFailover_GeneratedVsSeedHAProxy measures what clients see when
// node1 crashes (its labagent, app container and MariaDB SIGKILLed, the
// agent first, so it cannot warn HAProxy) under the same steady reads and
// writes through HAProxy, once with each configuration in front of the
// same two nodes:
//
//   - labfleet: the backend `labcontroller haproxy config --agent-check`
//     writes (primary/backup, httpchk inter 1s rise 2 fall 2, agent-check
//     every 2s) behind scripts/lab.sh's defaults (timeouts, retries 3,
//     option redispatch);
//   - seed: the lab's original backend, `server node1 ... check` and
//     `server node2 ... check backup` with HAProxy's default intervals
//     (TCP check, inter 2s rise 2 fall 3), the same timeouts and no
//     retries or redispatch lines.
//
// It reports failed requests and seconds without service (100 ms slots in
// the 15 s after the crash in which no request succeeded), and their
// ratios labfleet / seed. Between the runs node1 is restarted and catches
// up. Run it once:
//
//	go test -run '^$' -bench Failover -benchtime 1x ./e2e/
func BenchmarkFailover_GeneratedVsSeedHAProxy(b *testing.B) {
	const (
		rate    = 100
		workers = 256 // more than rate × the 2 s timeout: nothing is held back while requests hang
		after   = 15 * time.Second
		slot    = 100 * time.Millisecond
	)
	l := newFailoverLab(b)
	generated, _ := l.generatedBackend(b)
	timeouts := []string{"timeout connect 2s", "timeout client 30s", "timeout server 30s"}
	runs := []struct {
		name string
		cfg  labtest.HAProxyConfig
	}{
		{"labfleet", labtest.HAProxyConfig{Defaults: slices.Concat(timeouts, []string{"retries 3", "option redispatch"}), Backend: generated}},
		{"seed", labtest.HAProxyConfig{Defaults: timeouts, Backend: fmt.Sprintf("backend app\n    server %s %s:8000 check\n    server %s %s:8000 check backup\n",
			l.names[0], l.ips[0], l.names[1], l.ips[1])}},
	}
	type outcome struct {
		sent, failed int
		down         time.Duration
		errors       string
	}
	var got []outcome
	for i, run := range runs {
		if i > 0 {
			l.restartNode1(b)
			labtest.Eventually(b, 60*time.Second, "node1 back and caught up", func() string {
				if a := l.agentCheck(0); !strings.HasPrefix(a, "up 100%") {
					return "node1's agent-check: " + a
				}
				return ""
			})
		}
		hap := labtest.StartHAProxyConfig(b, run.cfg)
		labtest.Eventually(b, 30*time.Second, run.name+": HAProxy has both nodes up", func() string {
			for _, n := range l.names {
				if s, why := server(hap, n); why != "" || !s.Healthy() || s.Weight == 0 {
					return fmt.Sprintf("%s: %+v %s", n, s, why)
				}
			}
			return ""
		})
		traffic := labtest.StartTraffic(b, labtest.TrafficOptions{Base: hap.URL(""), Rate: rate, Workers: workers, Prefix: run.name + "-"})
		time.Sleep(2 * time.Second)
		if before := traffic.Snapshot(); before.Failed() != 0 || before.ServedBy()[l.names[0]] == 0 {
			b.Fatalf("%s: before the crash node1 must serve without failures: %s", run.name, before)
		}
		crashAt := time.Now()
		l.crashNode1(b, true)
		time.Sleep(after)
		res := traffic.Stop()
		hap.Stop()
		w := res.Between(crashAt, time.Time{})
		o := outcome{sent: len(w.Requests), failed: w.Failed(), down: res.WithoutService(crashAt, crashAt.Add(after), slot), errors: w.String()}
		got = append(got, o)
		b.Logf("%s: %v without service; after the crash: %s", run.name, o.down, o.errors)
		b.ReportMetric(float64(o.failed), run.name+"-failed")
		b.ReportMetric(o.down.Seconds(), run.name+"-down-s")
	}
	lf, seed := got[0], got[1]
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	fmt.Printf("\n| | failed requests (of sent, %d s after the crash) | seconds without service |\n|---|---|---|\n", int(after.Seconds()))
	fmt.Printf("| labfleet (generated backend, agent-check) | %d of %d | %.1f s |\n", lf.failed, lf.sent, lf.down.Seconds())
	fmt.Printf("| seed (`check` only, defaults) | %d of %d | %.1f s |\n", seed.failed, seed.sent, seed.down.Seconds())
	fmt.Printf("| **ratio labfleet / seed** | **%s** | **%s** |\n\n", ratio(float64(lf.failed), float64(seed.failed)), ratio(lf.down.Seconds(), seed.down.Seconds()))
	if seed.failed > 0 {
		b.ReportMetric(float64(lf.failed)/float64(seed.failed), "failed-ratio")
	}
	if seed.down > 0 {
		b.ReportMetric(lf.down.Seconds()/seed.down.Seconds(), "down-ratio")
	}
}
