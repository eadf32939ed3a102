package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// BenchmarkRollout_VsByHand measures, in one run under the same steady load
// through HAProxy, the failed requests and wall time of a labfleet rolling
// deploy v1 -> v2 across two nodes and of the lab's old way (`docker rm -f`
// + `docker run` on each node, same image).
//
//	go test -run '^$' -bench Rollout_VsByHand -benchtime 1x ./e2e/
func BenchmarkRollout_VsByHand(b *testing.B) {
	const rate = 250
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e6)
	n1 := labtest.StartAgent(b, labtest.AgentOptions{Name: "bn1-" + suffix, Mode: labtest.Insecure})
	n2 := labtest.StartAgent(b, labtest.AgentOptions{Name: "bn2-" + suffix, Mode: labtest.Insecure})
	removeNodeContainers(b, n1.Name)
	removeNodeContainers(b, n2.Name)
	ip1, _ := hostPort(n1.Addr)
	ip2, _ := hostPort(n2.Addr)
	hap := labtest.StartHAProxy(b, labtest.HAProxyOptions{Backend: "app", Servers: []labtest.HAProxyServer{
		{Name: n1.Name, Addr: ip1 + ":8000"}, {Name: n2.Name, Addr: ip2 + ":8000"}}})
	inv := writeFile(b, "inv.ini", fmt.Sprintf("[nodes]\n%s ansible_host=%s labagent_port=%s\n%s ansible_host=%s labagent_port=%s\n",
		n1.Name, ip1, strings.Split(n1.Addr, ":")[1], n2.Name, ip2, strings.Split(n2.Addr, ":")[1]))
	v1 := labtest.BuildImage(b, labtest.ImageOptions{Version: "v1"})
	v2 := labtest.BuildImage(b, labtest.ImageOptions{Version: "v2"})
	ctl := labtest.Binary(b, "labcontroller")
	stateDir := b.TempDir()
	deploy := func(img string) {
		r := labtest.Run(b, nil, ctl, "-i", inv, "--insecure", "--haproxy", hap.Admin, "--haproxy-backend", "app", "deploy",
			"--app", "web", "--image", img, "-p", "8000:8000", "--health-path", "/healthz", "--state-dir", stateDir)
		if r.Code != 0 {
			b.Fatalf("labfleet deploy: %s%s", r.Stdout, r.Stderr)
		}
	}
	waitServing := func(want string) {
		for _, ip := range []string{ip1, ip2} {
			deadline := time.Now().Add(60 * time.Second)
			for getBody("http://"+ip+":8000/version") != want {
				if time.Now().After(deadline) {
					b.Fatalf("%s does not serve %s", ip, want)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		// and HAProxy sees both up
		deadline := time.Now().Add(60 * time.Second)
		for {
			s1, e1 := hap.Client().Server(b.Context(), "app", n1.Name)
			s2, e2 := hap.Client().Server(b.Context(), "app", n2.Name)
			if e1 == nil && e2 == nil && s1.Operational && s2.Operational {
				return
			}
			if time.Now().After(deadline) {
				b.Fatal("HAProxy does not see both servers up")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// labfleet: v1, then the measured roll to v2.
	deploy(v1)
	waitServing("v1")
	load := labtest.StartLoad(b, labtest.LoadOptions{URL: hap.URL("/version"), Rate: rate, Workers: 64})
	time.Sleep(time.Second)
	t0 := time.Now()
	deploy(v2)
	labfleetWall := time.Since(t0)
	time.Sleep(time.Second)
	lf := load.Stop()

	// The old way on the same addresses: replace labfleet's containers by
	// hand-made v1 ones, then roll to v2 with docker rm -f + docker run.
	for _, n := range []*labtest.Agent{n1, n2} {
		labtest.Run(b, nil, "bash", "-c", `docker rm -f $(docker ps -aq --filter label=labfleet.node=$1) >/dev/null`, "x", n.Name)
	}
	byHand := func(img string) {
		for i, ip := range []string{ip1, ip2} {
			name := fmt.Sprintf("byhand-%d-%s", i, suffix)
			r := labtest.Run(b, nil, "bash", "-c", `docker rm -f "$1" >/dev/null 2>&1; docker run -d --name "$1" --restart unless-stopped -p "$2" "$3" >/dev/null`,
				"x", name, ip+":8000:8000", img)
			if r.Code != 0 {
				b.Fatalf("docker run: %s", r.Stderr)
			}
		}
	}
	b.Cleanup(func() {
		labtest.Run(b, nil, "bash", "-c", `docker rm -f byhand-0-$1 byhand-1-$1 >/dev/null 2>&1`, "x", suffix)
	})
	byHand(v1)
	waitServing("v1")
	load = labtest.StartLoad(b, labtest.LoadOptions{URL: hap.URL("/version"), Rate: rate, Workers: 64})
	time.Sleep(time.Second)
	t0 = time.Now()
	byHand(v2)
	waitServing("v2")
	handWall := time.Since(t0)
	time.Sleep(time.Second)
	bh := load.Stop()

	b.ReportMetric(float64(lf.Sent)/lf.Duration.Seconds(), "labfleet-req/s")
	b.ReportMetric(float64(lf.Failed), "labfleet-failed")
	b.ReportMetric(labfleetWall.Seconds(), "labfleet-wall-s")
	b.ReportMetric(float64(bh.Sent)/bh.Duration.Seconds(), "byhand-req/s")
	b.ReportMetric(float64(bh.Failed), "byhand-failed")
	b.ReportMetric(handWall.Seconds(), "byhand-wall-s")
	b.Logf("labfleet: %s", lf)
	b.Logf("by hand: %s", bh)
}

// BenchmarkRollout_20Agents times one deploy to 20 agents (distinct
// loopback addresses, one engine) with --batch 1, 5 and 20.
//
//	go test -run '^$' -bench Rollout_20Agents -benchtime 1x ./e2e/
func BenchmarkRollout_20Agents(b *testing.B) {
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e6)
	var inv strings.Builder
	inv.WriteString("[nodes]\n")
	for i := 0; i < 20; i++ {
		a := labtest.StartAgent(b, labtest.AgentOptions{Name: fmt.Sprintf("b20-%02d-%s", i, suffix), Mode: labtest.Insecure})
		removeNodeContainers(b, a.Name)
		h, p := hostPort(a.Addr)
		fmt.Fprintf(&inv, "%s ansible_host=%s labagent_port=%s\n", a.Name, h, p)
	}
	path := writeFile(b, "inv.ini", inv.String())
	images := []string{labtest.BuildImage(b, labtest.ImageOptions{Version: "v1"}), labtest.BuildImage(b, labtest.ImageOptions{Version: "v2"})}
	ctl := labtest.Binary(b, "labcontroller")
	stateDir := b.TempDir()
	deploy := func(img string, batch int) time.Duration {
		t0 := time.Now()
		r := labtest.Run(b, nil, ctl, "-i", path, "--insecure", "deploy", "--app", "web", "--image", img, "-p", "8000:8000",
			"--health-path", "/healthz", "--health-interval", "200ms", "--batch", fmt.Sprint(batch), "--state-dir", stateDir)
		if r.Code != 0 {
			b.Fatalf("deploy --batch %d: %s%s", batch, r.Stdout, r.Stderr)
		}
		return time.Since(t0)
	}
	deploy(images[0], 20)
	for i, batch := range []int{1, 5, 20} {
		d := deploy(images[(i+1)%2], batch)
		b.ReportMetric(d.Seconds(), fmt.Sprintf("batch%d-s", batch))
	}
}
