package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// TestRollout_PrimaryBackup: node1 active, node2 HAProxy's backup. Rolling
// node1 hands its traffic to the backup, rolling the backup never leaves
// the backend without a usable server, and no request fails.
func TestRollout_PrimaryBackup(t *testing.T) {
	l := rolloutLabWith(t, true)
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	v2 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v2"})
	if r := l.deploy(t, nil, v1, "v1"); r.Code != 0 {
		t.Fatalf("first deploy: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	load := labtest.StartLoad(t, labtest.LoadOptions{URL: l.hap.URL("/version"), Rate: 200})
	time.Sleep(time.Second)
	r := l.deploy(t, nil, v2, "v2")
	time.Sleep(time.Second)
	res := load.Stop()
	if r.Code != 0 {
		t.Fatalf("rolling deploy v2: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// v1 kept answering while node1 was drained: the backup served.
	if res.Failed != 0 || res.Bodies["v1"] == 0 || res.Bodies["v2"] == 0 {
		t.Fatalf("during the roll: want zero failures, the backup (v1) serving while node1 was drained, then v2; got %s", res)
	}
	if !strings.Contains(r.Stdout, "draining "+l.n2.Name) {
		t.Errorf("the backup was not drained for its own deploy:\n%s", r.Stdout)
	}
	for _, a := range []*labtest.Agent{l.n1, l.n2} {
		if v := l.version(a); v != "v2" {
			t.Errorf("%s runs %q after the roll", a.Name, v)
		}
	}
	st, err := l.hap.Client().Server(t.Context(), "app", l.n2.Name)
	if err != nil || !st.Backup || st.Admin != "ready" {
		t.Fatalf("the backup after the roll: %+v %v", st, err)
	}
}
