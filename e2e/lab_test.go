package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/labfleet/labfleet/internal/labtest"
)

// lab is `make lab` brought up on addresses and names of its own.
type lab struct {
	dir, control string
	nodes, ips   [2]string
	env          []string
}

func startLab(t *testing.T) *lab {
	t.Helper()
	id := fmt.Sprintf("%d", time.Now().UnixNano()%1e6)
	l := &lab{dir: t.TempDir(), control: labtest.LoopbackIP()}
	for i := range 2 {
		l.nodes[i] = fmt.Sprintf("lab%d-%s", i+1, id)
		l.ips[i] = labtest.LoopbackIP()
	}
	l.env = []string{"LAB_DIR=" + l.dir, "LAB_CONTROL_IP=" + l.control, "LAB_NODE1_IP=" + l.ips[0], "LAB_NODE2_IP=" + l.ips[1],
		"LAB_NODE1_NAME=" + l.nodes[0], "LAB_NODE2_NAME=" + l.nodes[1], "LAB_HTTP_PORT=80", "LAB_IMAGE=labfleet-test/todo-" + id}
	script := filepath.Join(labtest.RepoRoot(), "scripts", "lab.sh")
	t.Cleanup(func() {
		if r := labtest.Run(t, l.env, "bash", script, "down"); r.Code != 0 {
			t.Errorf("lab down: %s%s", r.Stdout, r.Stderr)
		}
	})
	r := labtest.Run(t, l.env, "bash", script, "up")
	if r.Code != 0 {
		t.Fatalf("lab up: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "The lab is up") {
		t.Fatalf("lab up did not say where to look:\n%s", r.Stdout)
	}
	return l
}

// nagios forces every check of the lab's hosts and waits until each
// service has a result newer than the force, then returns them by
// "host/service".
func (l *lab) nagios(t *testing.T) map[string]labtest.ServiceStatus {
	t.Helper()
	cmdFile := filepath.Join(l.dir, "nagios", "rw", "nagios.cmd")
	time.Sleep(1100 * time.Millisecond) // last_check has whole seconds
	since := time.Now().Truncate(time.Second)
	now := since.Unix()
	f, err := os.OpenFile(cmdFile, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("Nagios command file: %v", err)
	}
	for _, h := range []string{"control", l.nodes[0], l.nodes[1]} {
		fmt.Fprintf(f, "[%d] SCHEDULE_FORCED_HOST_SVC_CHECKS;%s;%d\n", now, h, now)
	}
	f.Close()
	var out map[string]labtest.ServiceStatus
	eventually(t, "Nagios has checked every service again", func() bool {
		raw, err := os.ReadFile(filepath.Join(l.dir, "nagios", "status.dat"))
		if err != nil {
			return false
		}
		st, err := labtest.ParseNagiosStatus(string(raw))
		if err != nil || len(st.Services) == 0 {
			return false
		}
		out = map[string]labtest.ServiceStatus{}
		for _, s := range st.Services {
			if !s.HasBeenChecked || s.LastCheck.Before(since) {
				return false
			}
			out[s.HostName+"/"+s.ServiceDescription] = s
		}
		return true
	})
	return out
}

// okOrBusy: a service is OK, except that the node check may report this
// machine's load, which the tests running beside the lab drive well past
// check_node's default thresholds (2/4 per CPU); its memory and disk parts
// must still be OK.
func okOrBusy(name string, s labtest.ServiceStatus) bool {
	if s.State() == "OK" {
		return true
	}
	return strings.HasSuffix(name, "/node") && strings.Contains(s.PluginOutput, "NODE") && strings.Contains(s.PluginOutput, "load") &&
		strings.Contains(s.LongPluginOutput, "OK: memory") && strings.Contains(s.LongPluginOutput, "OK: disk")
}

func (l *lab) ctl(t *testing.T, args ...string) labtest.Result {
	t.Helper()
	return controller(t, append([]string{"-i", filepath.Join(l.dir, "inventory.ini")}, args...)...)
}

func (l *lab) deploy(t *testing.T, version string) labtest.Result {
	t.Helper()
	return l.ctl(t, "deploy", "--app", "todo", "--image", strings.Split(l.env[7], "=")[1]+":"+version, "--network", "host",
		"--env", "LISTEN=${LABFLEET_PUBLISH_IP}:8000", "--env", "DB_HOST=${LABFLEET_PUBLISH_IP}", "--env", "DB_USER=todo",
		"--secret-env", "DB_PASSWORD=@"+filepath.Join(l.dir, "secrets", "db-password"), "--health-path", "/healthz",
		"--health-port", "8000", "--pull", "never", "--haproxy", filepath.Join(l.dir, "run", "haproxy.sock"),
		"--haproxy-backend", "app", "--state-dir", filepath.Join(l.dir, "controller"))
}

// TestLab_TheStory is the README's story on a real lab: an item added
// through HAProxy is read back from node2, a rolling deploy of v2 fails no
// request, Nagios shows every service OK (and a stopped replication thread
// CRITICAL), node1's app container is killed: Nagios goes CRITICAL for it
// and HAProxy serves from node2, and a redeploy heals it: Nagios OK again.
func TestLab_TheStory(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab takes a minute")
	}
	l := startLab(t)
	front := "http://" + l.control + ":80"

	// Re-running `make lab` changes nothing.
	r := labtest.Run(t, l.env, "bash", filepath.Join(labtest.RepoRoot(), "scripts", "lab.sh"), "up")
	if r.Code != 0 || !strings.Contains(r.Stdout, "already running and healthy") || !strings.Contains(r.Stdout, "nothing changed") {
		t.Fatalf("lab up again: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	resp, err := http.Post(front+"/items", "application/json", strings.NewReader(`{"title":"buy milk"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("add an item through HAProxy: %v %v", resp, err)
	}
	resp.Body.Close()
	eventually(t, "the item is read back from node2 directly", func() bool {
		return strings.Contains(getBody("http://"+l.ips[1]+":8000/items"), "buy milk")
	})

	load := labtest.StartLoad(t, labtest.LoadOptions{URL: front + "/version", Rate: 100})
	r = l.deploy(t, "v2")
	time.Sleep(time.Second)
	res := load.Stop()
	if r.Code != 0 || res.Failed != 0 || res.Bodies["v2"] == 0 {
		t.Fatalf("rolling deploy v2: exit %d, load %s\n%s%s", r.Code, res, r.Stdout, r.Stderr)
	}
	for _, ip := range l.ips {
		if v := getBody("http://" + ip + ":8000/version"); v != "v2" {
			t.Fatalf("%s serves %q after the roll", ip, v)
		}
	}
	if r := l.ctl(t, "status", "--app", "todo", "--check"); r.Code != 0 {
		t.Fatalf("status --check after the roll: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// Nagios Core, running labfleet's plugins from the generated config,
	// shows every service OK with perfdata.
	svcs := l.nagios(t)
	if len(svcs) < 13 {
		t.Fatalf("Nagios knows %d services, want the lab's 13: %v", len(svcs), svcs)
	}
	for name, s := range svcs {
		if s.PerformanceData == "" || !okOrBusy(name, s) {
			t.Errorf("Nagios %s: %s, perfdata %q", name, s, s.PerformanceData)
		}
	}
	if !strings.Contains(svcs["control/deploy todo"].PluginOutput, "todo v2 on all 2 nodes") {
		t.Errorf("deploy check: %s", svcs["control/deploy todo"])
	}

	// The Nagios web interface serves the lab's status on the control
	// address, behind a login, as a browser renders it.
	status := "http://" + l.control + ":8080/cgi-bin/nagios4/status.cgi?host=all"
	if resp, err := http.Get(status); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the web interface without a login: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	webPW, err := os.ReadFile(filepath.Join(l.dir, "secrets", "nagios-web"))
	if err != nil {
		t.Fatal(err)
	}
	page := labtest.Browse(t, strings.Replace(status, "http://", "http://nagiosadmin:"+strings.TrimSpace(string(webPW))+"@", 1))
	for _, want := range []string{"Current Network Status", l.nodes[0], l.nodes[1], "control", "labagent", "replication", "container todo"} {
		if !strings.Contains(page, want) {
			t.Errorf("the lab's Nagios services page lacks %q", want)
		}
	}

	// A stopped replication thread turns node2's replication service CRITICAL.
	mroot, _ := os.ReadFile(filepath.Join(l.dir, "secrets", "mariadb-root-node2"))
	mysql := func(q string) {
		if r := labtest.Run(t, []string{"MYSQL_PWD=" + strings.TrimSpace(string(mroot))}, "mariadb", "--no-defaults", "-h", l.ips[1], "-uroot", "-e", q); r.Code != 0 {
			t.Fatalf("%s: %s", q, r.Stderr)
		}
	}
	mysql("STOP SLAVE '" + l.nodes[0] + "' SQL_THREAD")
	if s := l.nagios(t)[l.nodes[1]+"/replication"]; s.State() != "CRITICAL" || !strings.Contains(s.PluginOutput, "SQL thread") {
		t.Fatalf("Nagios after stopping node2's SQL thread: %s", s)
	}
	mysql("START SLAVE '" + l.nodes[0] + "'")
	// While its SQL thread was stopped node2's labagent held it out of
	// HAProxy (agent-check weight 0); caught up again, it is back at full
	// weight, ready to take over.
	eventually(t, "node2 back at full weight in HAProxy", func() bool {
		s, err := labtest.HAProxyClientFor(filepath.Join(l.dir, "run", "haproxy.sock")).Server(context.Background(), "app", l.nodes[1])
		return err == nil && s.Weight > 0 && s.Healthy()
	})

	// Kill node1's app container: HAProxy serves from node2.
	cli := labtest.Docker(t)
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "labfleet.node="+l.nodes[0]), filters.Arg("label", "labfleet.app=todo"))})
	if err != nil || len(cs) != 1 {
		t.Fatalf("node1's running todo container: %v %v", cs, err)
	}
	if err := cli.ContainerKill(context.Background(), cs[0].ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "HAProxy marks node1 down", func() bool {
		s, err := labtest.HAProxyClientFor(filepath.Join(l.dir, "run", "haproxy.sock")).Server(context.Background(), "app", l.nodes[0])
		return err == nil && !s.Operational
	})
	for range 20 {
		resp, err := http.Get(front + "/version")
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Served-By") != l.nodes[1] {
			t.Fatalf("with node1's app killed, HAProxy must serve from node2: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	if r := l.ctl(t, "status", "--app", "todo", "--check"); r.Code != 1 || !strings.Contains(r.Stdout, "STOPPED") {
		t.Fatalf("status --check with node1's app killed: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	svcs = l.nagios(t)
	for _, name := range []string{l.nodes[0] + "/container todo", l.nodes[0] + "/app todo", "control/deploy todo"} {
		if s := svcs[name]; s.State() != "CRITICAL" {
			t.Errorf("Nagios with node1's app killed: %s, want CRITICAL", s)
		}
	}
	if s := svcs["control/app todo via haproxy"]; s.State() != "OK" {
		t.Errorf("the app through HAProxy must stay OK while node2 serves: %s", s)
	}

	// A redeploy heals it.
	if r := l.deploy(t, "v2"); r.Code != 0 || !strings.Contains(r.Stdout, "succeeded") {
		t.Fatalf("redeploy: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := l.ctl(t, "status", "--app", "todo", "--check"); r.Code != 0 {
		t.Fatalf("status --check after the redeploy: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	eventually(t, "HAProxy sees node1 up again", func() bool {
		s, err := labtest.HAProxyClientFor(filepath.Join(l.dir, "run", "haproxy.sock")).Server(context.Background(), "app", l.nodes[0])
		return err == nil && s.Healthy()
	})
	for name, s := range l.nagios(t) {
		if !okOrBusy(name, s) {
			t.Errorf("Nagios after the redeploy: %s: %s", name, s)
		}
	}
	if _, err := os.Stat(filepath.Join(l.dir, "secrets", "db-password")); err != nil {
		t.Fatal(err)
	}
}
