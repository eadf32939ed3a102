package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// BenchmarkDeploy_AgentVsByHand times, alternately in one run, a deploy of a
// local image to healthy through labcontroller and the agent, and the lab's
// old way: `docker rm -f` + `docker run` + a curl loop on the health URL.
// Both poll health every 100 ms and swap between the same two images.
//
//	go test -run '^$' -bench Deploy_AgentVsByHand -benchtime 10x ./e2e/
func BenchmarkDeploy_AgentVsByHand(b *testing.B) {
	node := fmt.Sprintf("bench-%d", time.Now().UnixNano()%1e6)
	a := labtest.StartAgent(b, labtest.AgentOptions{Name: node, Mode: labtest.Insecure})
	ip, _ := hostPort(a.Addr)
	byHand := "bench-byhand-" + node
	b.Cleanup(func() { _ = labtest.Run(b, nil, "docker", "rm", "-f", byHand) })
	removeNodeContainers(b, node)
	images := []string{labtest.BuildImage(b, labtest.ImageOptions{Version: "v1"}), labtest.BuildImage(b, labtest.ImageOptions{Version: "v2"})}
	inv := writeFile(b, "inv.ini", fmt.Sprintf("[nodes]\n%s ansible_host=%s labagent_port=%s\n", node, ip, strings.Split(a.Addr, ":")[1]))
	ctl := labtest.Binary(b, "labcontroller")

	agentDeploy := func(img string) {
		r := labtest.Run(b, nil, ctl, "-i", inv, "--insecure", "deploy", "--app", "web", "--image", img,
			"-p", "18080:8000", "--health-path", "/healthz", "--health-interval", "100ms")
		if r.Code != 0 {
			b.Fatalf("agent deploy failed:\n%s%s", r.Stdout, r.Stderr)
		}
	}
	script := `docker rm -f "$1" >/dev/null 2>&1; docker run -d --name "$1" --restart unless-stopped -p "$2" "$3" >/dev/null || exit 1
for i in $(seq 1 600); do curl -sf -o /dev/null "$4" && exit 0; sleep 0.1; done; exit 1`
	handDeploy := func(img string) {
		r := labtest.Run(b, nil, "bash", "-c", script, "x", byHand, ip+":18081:8000", img, "http://"+ip+":18081/healthz")
		if r.Code != 0 {
			b.Fatalf("by-hand deploy failed:\n%s%s", r.Stdout, r.Stderr)
		}
	}
	agentDeploy(images[1]) // warm up both paths, so every timed run swaps a container
	handDeploy(images[1])

	var agentTotal, handTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		img := images[i%2]
		t0 := time.Now()
		agentDeploy(img)
		agentTotal += time.Since(t0)
		t0 = time.Now()
		handDeploy(img)
		handTotal += time.Since(t0)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(agentTotal.Milliseconds())/n, "agent-ms/deploy")
	b.ReportMetric(float64(handTotal.Milliseconds())/n, "byhand-ms/deploy")
	b.ReportMetric(float64(agentTotal)/float64(handTotal), "agent/byhand")
}

// BenchmarkDeploy_AgentRSS reports the agent's resident memory idle and
// after 100, 200 and 300 deploys (run it with -benchtime 1x).
//
//	go test -run '^$' -bench Deploy_AgentRSS -benchtime 1x ./e2e/
func BenchmarkDeploy_AgentRSS(b *testing.B) {
	node := fmt.Sprintf("rss-%d", time.Now().UnixNano()%1e6)
	a := labtest.StartAgent(b, labtest.AgentOptions{Name: node, Mode: labtest.Insecure})
	removeNodeContainers(b, node)
	ip, port := hostPort(a.Addr)
	images := []string{labtest.BuildImage(b, labtest.ImageOptions{Version: "v1"}), labtest.BuildImage(b, labtest.ImageOptions{Version: "v2"})}
	inv := writeFile(b, "inv.ini", fmt.Sprintf("[nodes]\n%s ansible_host=%s labagent_port=%s\n", node, ip, port))
	ctl := labtest.Binary(b, "labcontroller")
	time.Sleep(2 * time.Second)
	idle := rssKB(b, a.Cmd.Process.Pid)
	b.ReportMetric(float64(idle)/1024, "idle-RSS-MB")
	// RSS after each hundred deploys, to see whether it levels off.
	for i := 0; i < b.N; i++ {
		for d := 1; d <= 300; d++ {
			r := labtest.Run(b, nil, ctl, "-i", inv, "--insecure", "deploy", "--app", "web", "--image", images[d%2],
				"-p", "18090:8000", "--health-path", "/healthz", "--health-interval", "100ms")
			if r.Code != 0 {
				b.Fatalf("deploy %d failed:\n%s%s", d, r.Stdout, r.Stderr)
			}
			if d%100 == 0 {
				b.ReportMetric(float64(rssKB(b, a.Cmd.Process.Pid))/1024, fmt.Sprintf("after-%d-deploys-RSS-MB", d))
			}
		}
	}
}

func rssKB(b *testing.B, pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
