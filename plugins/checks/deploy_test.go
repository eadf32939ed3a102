package checks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/labfleet/labfleet/internal/labtest"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

func TestCheckDeploy(t *testing.T) {
	t.Parallel()
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	v2 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v2"})
	cli := labtest.Docker(t)
	a1 := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "chkd1")})
	a2 := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "chkd2")})
	web1, _ := deployWeb(t, a1, "web", v1, "v1", labtest.AppPort)
	deployWeb(t, a2, "web", v1, "v1", labtest.AppPort)

	// The inventory names the nodes node1 and node2, as an operator's
	// would; the agents' own node names are unique per test run.
	inv := filepath.Join(t.TempDir(), "inventory.ini")
	var body string
	for i, a := range []*labtest.Agent{a1, a2} {
		host, port := pt.SplitAddr(t, a.Addr)
		body += fmt.Sprintf("node%d ansible_host=%s labagent_port=%s labagent_insecure=true\n", i+1, host, port)
	}
	if err := os.WriteFile(inv, []byte("[nodes]\n"+body+"\n[web]\nnode1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) pt.Result {
		t.Helper()
		return pt.Run(t, nil, "check_deploy", args...)
	}

	t.Run("OK_Inventory", func(t *testing.T) {
		r := run(t, "-i", inv, "--app", "web")
		r.Want(t, 0, "DEPLOY OK: web v1 on all 2 nodes, healthy | 'nodes'=2;;;0 'healthy'=2;;2:;0;2 'versions'=1;1;;0")
		pt.Golden(t, "deploy_ok", r, pt.Literal(v1, "IMAGE"))
	})
	t.Run("OK_HostsAndLimit", func(t *testing.T) {
		run(t, "--hosts", a1.Addr+","+a2.Addr, "--insecure", "--app", "web").Want(t, 0, "DEPLOY OK: web v1 on all 2 nodes, healthy")
		run(t, "-i", inv, "--limit", "node2", "--app", "web").Want(t, 0, "DEPLOY OK: web v1 on node2, healthy")
		run(t, "-i", inv, "--group", "web", "--app", "web").Want(t, 0, "DEPLOY OK: web v1 on node1, healthy")
	})
	t.Run("CRITICAL_AppMissing", func(t *testing.T) {
		r := run(t, "-i", inv, "--app", "api")
		r.Want(t, 2, "DEPLOY CRITICAL: node1 has no api; node2 has no api")
		pt.Golden(t, "deploy_critical_missing", r)
	})
	t.Run("WARNING_Drift", func(t *testing.T) {
		deployWeb(t, a2, "web", v2, "v2", labtest.AppPort)
		r := run(t, "-i", inv, "--app", "web")
		r.Want(t, 1, "DEPLOY WARNING: web version drift: v1 on node1; v2 on node2", "'versions'=2;1;;0")
		pt.Golden(t, "deploy_warning_drift", r, pt.Literal(v1, "IMAGE1"), pt.Literal(v2, "IMAGE2"))
	})
	t.Run("CRITICAL_StoppedAndUnreachable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cli.ContainerStop(ctx, web1, container.StopOptions{}); err != nil {
			t.Fatal(err)
		}
		a2.Stop()
		r := run(t, "-i", inv, "--app", "web")
		r.Want(t, 2, "DEPLOY CRITICAL: node1: web v1 not running (exited); node2: cannot reach agent at ", "'healthy'=0;;2:;0;2")
		pt.Golden(t, "deploy_critical_down", r, pt.Literal(v1, "IMAGE1"))
	})
	t.Run("UNKNOWN_Options", func(t *testing.T) {
		run(t, "-i", inv).Want(t, 3, "DEPLOY UNKNOWN: --app NAME is required (see check_deploy --help)")
		run(t, "--app", "web").Want(t, 3, "give -i INVENTORY (or set LABFLEET_INVENTORY) or --hosts HOST:PORT")
		run(t, "-i", inv, "--hosts", a1.Addr, "--app", "web").Want(t, 3, "give either -i INVENTORY or --hosts, not both")
		run(t, "-i", inv, "--limit", "nope", "--app", "web").Want(t, 3, `unknown host or group "nope" in --limit`)
		r := run(t, "-i", "/nonexistent/inventory.ini", "--app", "web")
		r.Want(t, 3)
		pt.Golden(t, "deploy_unknown_inventory", r)
	})
}
