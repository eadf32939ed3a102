package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// rolloutLab is two agents on their own loopback addresses, each publishing
// the app on :8000, behind a real HAProxy.
type rolloutLab struct {
	n1, n2   *labtest.Agent
	hap      *labtest.HAProxy
	inv      string
	stateDir string
}

func newRolloutLab(t *testing.T, node2Args ...string) *rolloutLab {
	t.Helper()
	return rolloutLabWith(t, false, node2Args...)
}

// rolloutLabWith is newRolloutLab, with node2 HAProxy's backup server
// when backup is set (the seed's design: node1 serves, node2 takes over).
func rolloutLabWith(t *testing.T, backup bool, node2Args ...string) *rolloutLab {
	t.Helper()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e6)
	l := &rolloutLab{stateDir: t.TempDir()}
	l.n1 = labtest.StartAgent(t, labtest.AgentOptions{Name: "rn1-" + suffix, Mode: labtest.Insecure})
	l.n2 = labtest.StartAgent(t, labtest.AgentOptions{Name: "rn2-" + suffix, Mode: labtest.Insecure, Args: node2Args})
	removeNodeContainers(t, l.n1.Name)
	removeNodeContainers(t, l.n2.Name)
	ip1, _ := hostPort(l.n1.Addr)
	ip2, _ := hostPort(l.n2.Addr)
	l.hap = labtest.StartHAProxy(t, labtest.HAProxyOptions{Backend: "app", Servers: []labtest.HAProxyServer{
		{Name: l.n1.Name, Addr: ip1 + ":8000"}, {Name: l.n2.Name, Addr: ip2 + ":8000", Backup: backup}}})
	l.inv = labInventory(t, "", l.n1, l.n2)
	return l
}

func (l *rolloutLab) deploy(t *testing.T, env []string, image, version string, extra ...string) labtest.Result {
	t.Helper()
	args := append([]string{"-i", l.inv, "--insecure", "--haproxy", l.hap.Admin, "--haproxy-backend", "app",
		"deploy", "--app", "web", "--image", image, "--version", version, "-p", "8000:8000", "--health-path", "/healthz",
		"--health-interval", "200ms", "--state-dir", l.stateDir}, extra...)
	return labtest.Run(t, env, labtest.Binary(t, "labcontroller"), args...)
}

func (l *rolloutLab) version(a *labtest.Agent) string {
	h, _ := hostPort(a.Addr)
	return getBody("http://" + h + ":8000/version")
}

func TestRollout_ZeroFailedRequestsThenBadImageStopsAtNode1(t *testing.T) {
	l := newRolloutLab(t)
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	v2 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v2"})
	v3 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v3", Mode: labtest.ModeNeverHealthy})

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
	for _, want := range []string{"draining", "drained", "load balancer sees it up", "ready: back in rotation"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("rollout output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if res.Failed != 0 || res.Bodies["v1"] == 0 || res.Bodies["v2"] == 0 {
		t.Fatalf("during the roll: want zero failures and both versions answering, got %s", res)
	}
	after := labtest.StartLoad(t, labtest.LoadOptions{URL: l.hap.URL("/version"), Rate: 100})
	time.Sleep(time.Second)
	if res := after.Stop(); res.Failed != 0 || res.Bodies["v1"] != 0 || res.Bodies["v2"] == 0 {
		t.Fatalf("after the roll: want only v2, got %s", res)
	}

	// A never-healthy v3: node1 fails and is put back on v2 by its agent,
	// node2 is never touched, and users see no error.
	load = labtest.StartLoad(t, labtest.LoadOptions{URL: l.hap.URL("/version"), Rate: 200})
	r = l.deploy(t, nil, v3, "v3", "--timeout", "4s")
	time.Sleep(500 * time.Millisecond)
	res = load.Stop()
	if r.Code != 1 || !strings.Contains(r.Stderr, "failed on "+l.n1.Name) {
		t.Fatalf("v3: want exit 1 failing on node1, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, l.n1.Name+" runs v2") || !strings.Contains(r.Stdout, "not touched") {
		t.Errorf("the summary must say node1 runs v2 and node2 was not touched:\n%s%s", r.Stdout, r.Stderr)
	}
	if l.version(l.n1) != "v2" || l.version(l.n2) != "v2" {
		t.Fatalf("after v3: node1 %q node2 %q, want v2 on both", l.version(l.n1), l.version(l.n2))
	}
	if strings.Contains(l.n2.Log(), "v3") {
		t.Fatalf("node2 was touched:\n%s", l.n2.Log())
	}
	if res.Failed != 0 {
		t.Fatalf("failed requests while v3 failed on node1: %s", res)
	}
	if st, err := l.hap.Client().Server(t.Context(), "app", l.n1.Name); err != nil || st.Admin != "ready" {
		t.Fatalf("node1 not back in rotation: %+v %v", st, err)
	}
}

func TestRollout_LockDryRunAndUnreachableHAProxy(t *testing.T) {
	l := newRolloutLab(t)
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	v2 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v2"})
	slow := labtest.BuildImage(t, labtest.ImageOptions{Version: "v4", Mode: labtest.ModeSlowStart})
	if r := l.deploy(t, nil, v1, "v1"); r.Code != 0 {
		t.Fatalf("first deploy: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// Dry run: a plan, and nothing changes.
	histBefore := controller(t, "-i", l.inv, "--insecure", "history", "-o", "json").Stdout
	r := l.deploy(t, nil, v2, "v2", "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, "change: v1 -> v2") || !strings.Contains(r.Stdout, "would replace version v1") || !strings.Contains(r.Stdout, "nothing is changed") {
		t.Fatalf("dry run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if l.version(l.n1) != "v1" || controller(t, "-i", l.inv, "--insecure", "history", "-o", "json").Stdout != histBefore {
		t.Fatal("--dry-run changed something")
	}

	// HAProxy unreachable: a clear error before anything changes.
	r = labtest.Run(t, nil, labtest.Binary(t, "labcontroller"), "-i", l.inv, "--insecure", "--haproxy", "/nonexistent/admin.sock",
		"--haproxy-backend", "app", "deploy", "--app", "web", "--image", v2, "-p", "8000:8000", "--state-dir", l.stateDir)
	if r.Code != 1 || !strings.Contains(r.Stderr, "nothing was changed") || !strings.Contains(r.Stderr, "/nonexistent/admin.sock") {
		t.Fatalf("unreachable HAProxy: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if controller(t, "-i", l.inv, "--insecure", "history", "-o", "json").Stdout != histBefore {
		t.Fatal("a deploy with HAProxy unreachable changed something")
	}

	// Lock contention: a slow deploy holds the fleet lock; a second
	// controller fails fast naming it, and --lock-wait queues behind it.
	var wg sync.WaitGroup
	var first labtest.Result
	wg.Go(func() { first = l.deploy(t, nil, slow, "v4", "--env", "SLOW_SECONDS=4", "--deploy-id", "slow-one") })
	waitFor(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(l.stateDir, "locks", "web.lock"))
		return strings.Contains(string(b), "slow-one")
	})
	r = l.deploy(t, nil, v2, "v2")
	if r.Code != 1 || !strings.Contains(r.Stderr, "slow-one") || !strings.Contains(r.Stderr, "--lock-wait") {
		t.Fatalf("second controller: want a fast failure naming the holder, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	queued := l.deploy(t, nil, v2, "v2", "--lock-wait", "2m")
	wg.Wait()
	if first.Code != 0 || queued.Code != 0 || l.version(l.n1) != "v2" || l.version(l.n2) != "v2" {
		t.Fatalf("slow deploy %d, queued deploy %d (node1 %q node2 %q)\n%s%s", first.Code, queued.Code, l.version(l.n1), l.version(l.n2), queued.Stdout, queued.Stderr)
	}
}

func TestRollout_AutoRevertWhenALaterNodeFails(t *testing.T) {
	proxy := labtest.StartDockerProxy(t)
	l := newRolloutLab(t, "--docker-host", proxy.Host)
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	v2 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v2"})
	if r := l.deploy(t, nil, v1, "v1"); r.Code != 0 {
		t.Fatalf("first deploy: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// node2's Docker Engine becomes unreachable (its app keeps serving):
	// node1 gets v2, node2's deploy fails, and node1 is rolled back to v1.
	proxy.Cut()
	load := labtest.StartLoad(t, labtest.LoadOptions{URL: l.hap.URL("/version"), Rate: 200})
	r := l.deploy(t, nil, v2, "v2")
	res := load.Stop()
	if r.Code != 1 || !strings.Contains(r.Stderr, "failed on "+l.n2.Name) || !strings.Contains(r.Stdout, "reverted") {
		t.Fatalf("want exit 1 failing on node2 with node1 reverted, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, l.n1.Name+" runs v1") || l.version(l.n1) != "v1" || l.version(l.n2) != "v1" {
		t.Fatalf("after the revert: node1 %q node2 %q\n%s", l.version(l.n1), l.version(l.n2), r.Stderr)
	}
	if res.Failed != 0 {
		t.Fatalf("failed requests during the revert: %s", res)
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	// --no-auto-revert keeps node1 on the new version.
	proxy.Cut()
	r = l.deploy(t, nil, v2, "v2", "--no-auto-revert")
	if r.Code != 1 || l.version(l.n1) != "v2" || !strings.Contains(r.Stderr, l.n1.Name+" runs v2") {
		t.Fatalf("--no-auto-revert: exit %d, node1 %q\n%s%s", r.Code, l.version(l.n1), r.Stdout, r.Stderr)
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	// Drift is visible and --check fails on it.
	r = controller(t, "-i", l.inv, "--insecure", "--haproxy", l.hap.Admin, "--haproxy-backend", "app", "status", "--app", "web", "--check")
	if r.Code != 1 || !strings.Contains(r.Stdout, "DRIFT") || !strings.Contains(r.Stdout, "UP") || !strings.Contains(r.Stderr, "version drift in web") {
		t.Fatalf("status --check with drift: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := l.deploy(t, nil, v2, "v2"); r.Code != 0 {
		t.Fatalf("deploy after the engine is back: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = controller(t, "-i", l.inv, "--insecure", "status", "--app", "web", "--check")
	if r.Code != 0 || strings.Contains(r.Stdout, "DRIFT") {
		t.Fatalf("status --check without drift: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestRollout_GitHubActionsOutput(t *testing.T) {
	l := newRolloutLab(t)
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	never := labtest.BuildImage(t, labtest.ImageOptions{Version: "v9", Mode: labtest.ModeNeverHealthy})
	dir := t.TempDir()
	secret := filepath.Join(dir, "pw")
	if err := os.WriteFile(secret, []byte("Hush-Hush-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	summary, output := filepath.Join(dir, "summary.md"), filepath.Join(dir, "output")
	env := []string{"GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY=" + summary, "GITHUB_OUTPUT=" + output}
	r := l.deploy(t, env, v1, "v1", "--secret-env", "PW=@"+secret)
	if r.Code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"::add-mask::Hush-Hush-123", "::group::" + l.n1.Name, "::endgroup::"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Count(r.Stdout, "Hush-Hush-123") != 1 {
		t.Errorf("the secret appears beyond its mask line:\n%s", r.Stdout)
	}
	out, _ := os.ReadFile(output)
	sum, _ := os.ReadFile(summary)
	if !strings.Contains(string(out), "version=v1") || !strings.Contains(string(out), "result=succeeded") {
		t.Errorf("GITHUB_OUTPUT: %q", out)
	}
	if !strings.Contains(string(sum), "| "+l.n1.Name+" | succeeded | v1 |") {
		t.Errorf("GITHUB_STEP_SUMMARY:\n%s", sum)
	}
	r = l.deploy(t, env, never, "v9", "--timeout", "3s")
	if r.Code != 1 || !strings.Contains(r.Stdout, "::error title=labfleet: web failed on "+l.n1.Name+"::") {
		t.Fatalf("failure annotation missing: exit %d\n%s", r.Code, r.Stdout)
	}
	out, _ = os.ReadFile(output)
	if !strings.Contains(string(out), "result=failed") {
		t.Errorf("GITHUB_OUTPUT after a failure: %q", out)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
