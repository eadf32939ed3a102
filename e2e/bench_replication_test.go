package e2e

import (
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
