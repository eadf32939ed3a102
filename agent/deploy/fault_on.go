//go:build labfleet_faultinject

package deploy

// Crash tests, compiled in only with -tags labfleet_faultinject: with
// LABAGENT_FAULT_PAUSE_AT=<phase> (lock, pull, create, stop-old, start,
// health, prune, record) the engine prints "FAULT-PAUSE <phase>" to stderr
// and sleeps 10s right after entering that phase, so a test can SIGKILL the
// agent at a known point.

import (
	"fmt"
	"os"
	"sync"
	"time"
)

var (
	pauseAt   = os.Getenv("LABAGENT_FAULT_PAUSE_AT")
	pauseOnce sync.Once
)

func faultAt(p Phase) {
	if pauseAt != "" && p.String() == pauseAt {
		pauseOnce.Do(func() { pause(p) })
	}
}

func pause(p Phase) {
	fmt.Fprintf(os.Stderr, "FAULT-PAUSE %s\n", p)
	time.Sleep(10 * time.Second)
}
