package checks_test

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/labfleet/labfleet/internal/labtest"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

// deployWeb deploys the test image as app on a (which must run Insecure),
// published on hostPort, and returns the deploy result's container ID and
// image digest.
func deployWeb(t *testing.T, a *labtest.Agent, app, image, version string, hostPort uint32) (id, digest string) {
	t.Helper()
	res := labtest.Deploy(t, a.Client(t), labtest.WebDeploy(app, image, version, app+"-"+version, hostPort, 30*time.Second)).
		MustSucceed(t, "deploy "+app+" "+version)
	return res.GetContainerId(), res.GetImageDigest()
}

func TestCheckContainer(t *testing.T) {
	t.Parallel()
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	cli := labtest.Docker(t)
	node := labtest.NodeName(t, "chkc")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	empty := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "chke")})
	_, digest := deployWeb(t, a, "web", v1, "v1", labtest.AppPort)
	apiID, _ := deployWeb(t, a, "api", v1, "v1", labtest.AppPort+1)
	norm := []pt.Norm{pt.Literal(v1, "IMAGE"), pt.Literal(node, "NODE")}
	run := func(t *testing.T, extra ...string) pt.Result {
		t.Helper()
		return pt.Run(t, nil, "check_container", agentArgs(t, a, append([]string{"--insecure"}, extra...)...)...)
	}

	t.Run("OK_OneApp", func(t *testing.T) {
		r := run(t, "--app", "web", "--expect-version", "v1", "--expect-digest", digest)
		r.Want(t, 0, "CONTAINER OK: web v1 running, healthy, 0 restarts, up ")
		pt.Golden(t, "container_ok_app", r, norm...)
	})
	t.Run("OK_EveryApp", func(t *testing.T) {
		r := run(t)
		r.Want(t, 0, "CONTAINER OK: 2 apps running and healthy: api v1, web v1 | 'api_restarts'=0;3;10;0 'api_uptime'=")
		pt.Golden(t, "container_ok_all", r, norm...)
	})
	t.Run("WARNING_MinUptime", func(t *testing.T) {
		r := run(t, "--app", "web", "--min-uptime", "1h")
		r.Want(t, 1, "CONTAINER WARNING: web: running for only ", "(--min-uptime 1h0m0s)", "'web_uptime'=")
		pt.Golden(t, "container_warning_uptime", r, norm...)
	})
	t.Run("WARNING_RestartRange", func(t *testing.T) {
		// '@0' alerts when the count is exactly 0: range syntax reaches
		// the restart thresholds unchanged.
		run(t, "--app", "web", "-w", "@0").Want(t, 1, "web: restarted 0 times (breaches -w @0)", "'web_restarts'=0;@0;10;0")
	})
	t.Run("CRITICAL_Version", func(t *testing.T) {
		r := run(t, "--app", "web", "--expect-version", "v2")
		r.Want(t, 2, `CONTAINER CRITICAL: web: runs version "v1", expected "v2"`)
		pt.Golden(t, "container_critical_version", r, norm...)
	})
	t.Run("CRITICAL_Digest", func(t *testing.T) {
		run(t, "--app", "web", "--expect-digest", "sha256:"+zeros).Want(t, 2, "web: runs image sha256:")
	})
	t.Run("CRITICAL_NotDeployed", func(t *testing.T) {
		r := run(t, "--app", "nope")
		r.Want(t, 2, "CONTAINER CRITICAL: app nope is not deployed on the node at ")
		pt.Golden(t, "container_critical_missing", r, norm...)
	})
	t.Run("CRITICAL_Stopped", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cli.ContainerStop(ctx, apiID, container.StopOptions{}); err != nil {
			t.Fatal(err)
		}
		r := run(t)
		r.Want(t, 2, "CONTAINER CRITICAL: api: not running (exited, last exit code 0)")
		pt.Golden(t, "container_critical_stopped", r, norm...)
	})
	t.Run("UNKNOWN_NoApps", func(t *testing.T) {
		r := pt.Run(t, nil, "check_container", agentArgs(t, empty, "--insecure")...)
		r.Want(t, 3, "CONTAINER UNKNOWN: no apps are deployed on the node at ")
		pt.Golden(t, "container_unknown_no_apps", r)
	})
	t.Run("UNKNOWN_BadOptions", func(t *testing.T) {
		run(t, "--min-uptime", "-1s").Want(t, 3, "--min-uptime -1s is negative")
		run(t, "-w", "three").Want(t, 3, `invalid range "three": end: "three" is not a number`)
	})
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
