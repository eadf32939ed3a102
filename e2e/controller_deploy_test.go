package e2e

import (
	"context"
	"fmt"
	"io"
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

// getBody GETs url and returns the body, or "" when it fails.
func getBody(url string) string {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// removeNodeContainers force-removes every container an agent of node made.
func removeNodeContainers(t testing.TB, node string) {
	t.Helper()
	cli := labtest.Docker(t)
	t.Cleanup(func() {
		ctx := context.Background()
		cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "labfleet.node="+node))})
		for _, c := range cs {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	})
}

func TestController_DeployRollbackHistoryStatus(t *testing.T) {
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e6)
	n1 := labtest.StartAgent(t, labtest.AgentOptions{Name: "cd1-" + suffix, Mode: labtest.Insecure})
	n2 := labtest.StartAgent(t, labtest.AgentOptions{Name: "cd2-" + suffix, Mode: labtest.Insecure})
	removeNodeContainers(t, n1.Name)
	removeNodeContainers(t, n2.Name)
	inv := labInventory(t, "", n1, n2)
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	v2 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v2"})
	bad := labtest.BuildImage(t, labtest.ImageOptions{Version: "v3", Mode: labtest.ModeNeverHealthy})
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("Sup3rSecret-"+suffix+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := func(a *labtest.Agent) string { h, _ := hostPort(a.Addr); return "http://" + h + ":8000/version" }
	deploy := func(image, version string, extra ...string) labtest.Result {
		args := append([]string{"-i", inv, "--insecure", "deploy", "--app", "web", "--image", image, "--version", version,
			"-p", "8000:8000", "--health-path", "/healthz", "--secret-env", "DB_PASSWORD=@" + secret}, extra...)
		return controller(t, args...)
	}

	r := deploy(v1, "v1")
	if r.Code != 0 || getBody(url(n1)) != "v1" || getBody(url(n2)) != "v1" {
		t.Fatalf("deploy v1: exit %d, node1 %q, node2 %q\n%s%s", r.Code, getBody(url(n1)), getBody(url(n2)), r.Stdout, r.Stderr)
	}
	for _, want := range []string{"==> " + n1.Name, "pull", "health", "succeeded"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout+r.Stderr+n1.Log()+n2.Log(), "Sup3rSecret") {
		t.Fatal("the secret value was printed or logged")
	}

	r = deploy(v2, "v2")
	if r.Code != 0 || getBody(url(n1)) != "v2" || getBody(url(n2)) != "v2" {
		t.Fatalf("deploy v2: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// A never-healthy image stops at the first node, which keeps serving
	// v2; the second node is never touched.
	r = deploy(bad, "v3", "--timeout", "5s")
	if r.Code != 1 || !strings.Contains(r.Stderr, "failed on "+n1.Name) || !strings.Contains(r.Stdout, "not healthy within 5s") {
		t.Fatalf("never-healthy deploy: want exit 1 failing on %s, got %d\n%s%s", n1.Name, r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "last log lines") || !strings.Contains(r.Stdout, "not touched") {
		t.Errorf("failure output lacks the log tail or the skipped node:\n%s", r.Stdout)
	}
	if getBody(url(n1)) != "v2" || getBody(url(n2)) != "v2" {
		t.Fatalf("after the failed deploy: node1 %q node2 %q, want v2 on both", getBody(url(n1)), getBody(url(n2)))
	}
	if strings.Contains(n2.Log(), "v3") {
		t.Fatalf("node2 was touched by the failed rollout:\n%s", n2.Log())
	}

	// Rollback to v1 on node2 only.
	r = controller(t, "-i", inv, "--insecure", "--limit", n2.Name, "rollback", "--app", "web")
	if r.Code != 0 || getBody(url(n2)) != "v1" || getBody(url(n1)) != "v2" {
		t.Fatalf("rollback on node2: exit %d, node1 %q node2 %q\n%s%s", r.Code, getBody(url(n1)), getBody(url(n2)), r.Stdout, r.Stderr)
	}

	r = controller(t, "-i", inv, "--insecure", "history", "--app", "web")
	if r.Code != 0 || strings.Count(r.Stdout, "succeeded") < 4 || !strings.Contains(r.Stdout, "rollback") || !strings.Contains(r.Stdout, "failed") {
		t.Fatalf("history: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	r = controller(t, "-i", inv, "--insecure", "status", "--app", "web")
	if r.Code != 0 || !strings.Contains(r.Stdout, n1.Name) || !strings.Contains(r.Stdout, "v2") || !strings.Contains(r.Stdout, "v1") || !strings.Contains(r.Stdout, "healthy") {
		t.Fatalf("status: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = controller(t, "-i", inv, "--insecure", "status", "--app", "nosuchapp", "--check")
	if r.Code != 1 || !strings.Contains(r.Stderr, "no app nosuchapp") {
		t.Fatalf("status of a missing app: want exit 1, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestController_DeployUsageErrors(t *testing.T) {
	inv := writeFile(t, "inv.ini", "[nodes]\nnode1 ansible_host=127.0.0.1\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "--image", "x:1"}, "--app"},
		{[]string{"deploy", "--app", "web", "--image", "x:1", "--port", "80:99999"}, "--port"},
		{[]string{"deploy", "--app", "web", "--image", "x:1", "--env", "NOEQUALS"}, "KEY=VALUE"},
		{[]string{"deploy", "--app", "web", "--image", "x:1", "--secret-env", "PW=plaintext"}, "shows in `ps`"},
		{[]string{"deploy", "--app", "Web!", "--image", "x:1"}, `--app "Web!" must be 1-63 lower-case letters`},
		{[]string{"deploy", "--app", "web", "--image", "x:1", "--pull", "sometimes"}, "--pull"},
		{[]string{"deploy", "--app", "web", "--image", "x:1", "--registry-user", "ci"}, "--registry-password-file"},
	}
	for _, c := range cases {
		r := controller(t, append([]string{"-i", inv, "--insecure"}, c.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%v: want exit 2 mentioning %q, got %d: %s", c.args, c.want, r.Code, r.Stderr)
		}
		if strings.Contains(r.Stderr, "plaintext") {
			t.Errorf("%v: the secret value was echoed: %s", c.args, r.Stderr)
		}
	}
}
