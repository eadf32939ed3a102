package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/internal/labtest"
)

// These tests run against the local Docker Engine. Without -short they
// fail, rather than skip, when the engine does not answer (labtest.Docker).

func TestRealEngine_ContainerLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker Engine")
	}
	cli := labtest.Docker(t)
	ref := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	node := labtest.NodeName(t, "dockerpkg") // removes the node's containers at the end
	e, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	engine, api, err := e.Version(ctx)
	if err != nil || engine == "" || !strings.HasPrefix(api, "1.") {
		t.Fatalf("Version = %q, %q, %v", engine, api, err)
	}
	img, ok, err := e.Image(ctx, ref)
	if err != nil || !ok || !strings.HasPrefix(img.ID, "sha256:") || img.HasHealthcheck {
		t.Fatalf("Image(%s) = %+v, %v, %v; want a local image without HEALTHCHECK", ref, img, ok, err)
	}
	if _, ok, err := e.Image(ctx, labtest.ImageRepo+":no-such-tag"); ok || err != nil {
		t.Fatalf("Image(missing) = %v, %v; want absent without error", ok, err)
	}

	ip := labtest.LoopbackIP()
	labels := map[string]string{labtest.NodeLabel: node, labtest.AppLabel: "web", labtest.TestLabel: "1"}
	cfg := deploy.ContainerConfig{
		Name: node + "-web", Image: ref, Env: []string{"VERSION=from-env"}, Labels: labels,
		Ports: []deploy.Port{{ContainerPort: labtest.AppPort}}, PublishIP: ip,
		RestartPolicy: "on-failure:2", StopTimeout: 3 * time.Second,
		Mounts: []deploy.Mount{{Source: t.TempDir(), Target: "/data", ReadOnly: true}},
	}
	id, err := e.Create(ctx, cfg)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	// The engine stored what Create mapped.
	raw := labtest.Inspect(t, cli, id)
	if raw.HostConfig.RestartPolicy.Name != "on-failure" || raw.HostConfig.RestartPolicy.MaximumRetryCount != 2 ||
		raw.Config.StopTimeout == nil || *raw.Config.StopTimeout != 3 || len(raw.HostConfig.Mounts) != 1 || !raw.HostConfig.Mounts[0].ReadOnly {
		t.Errorf("engine config: restart %+v, stop timeout %v, mounts %+v", raw.HostConfig.RestartPolicy, raw.Config.StopTimeout, raw.HostConfig.Mounts)
	}
	if _, err := e.Create(ctx, cfg); err == nil || errors.Is(err, deploy.ErrNotFound) || errors.Is(err, deploy.ErrUnavailable) ||
		!strings.Contains(err.Error(), "create container "+cfg.Name) {
		t.Errorf("second Create with the same name = %v; want the engine's conflict, unclassified", err)
	}

	if err := e.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	c, err := e.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.Name != cfg.Name || c.Image != ref || c.ImageID != img.ID || !c.Running || c.State != "running" ||
		c.Labels[labtest.NodeLabel] != node || len(c.Ports) != 1 || c.Ports[0].HostIP != ip || c.Ports[0].HostPort == 0 ||
		c.Ports[0].ContainerPort != labtest.AppPort || c.Ports[0].Protocol != "tcp" || c.IPAddress == "" || c.StartedAt.IsZero() {
		t.Fatalf("Inspect = %+v", c)
	}
	url := fmt.Sprintf("http://%s:%d/version", ip, c.Ports[0].HostPort)
	labtest.Eventually(t, 20*time.Second, "the container answering on "+url, func() string {
		code, body, err := labtest.HTTPGet(url)
		if err != nil || code != 200 || body != "from-env" {
			return fmt.Sprintf("%d %q %v", code, body, err)
		}
		return ""
	})
	lines, err := e.Logs(ctx, id, 10)
	if err != nil || len(lines) == 0 || lines[0] != "listening on :8000 version from-env" {
		t.Errorf("Logs = %q, %v", lines, err)
	}
	list, err := e.List(ctx, map[string]string{labtest.NodeLabel: node, labtest.AppLabel: "web"})
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("List = %+v, %v; want the one container", list, err)
	}
	if list, err := e.List(ctx, map[string]string{labtest.NodeLabel: node, labtest.AppLabel: "other"}); err != nil || len(list) != 0 {
		t.Errorf("List(other app) = %+v, %v; want none", list, err)
	}

	// Stop with the container's own timeout: testapp exits 0 on SIGTERM.
	if err := e.Stop(ctx, id, 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	c, err = e.Inspect(ctx, id)
	if err != nil || c.Running || c.State != "exited" || c.ExitCode != 0 || c.FinishedAt.Before(c.StartedAt) {
		t.Errorf("after Stop: %+v, %v", c, err)
	}
	if list, err := e.List(ctx, map[string]string{labtest.NodeLabel: node}); err != nil || len(list) != 1 {
		t.Errorf("List after Stop = %+v, %v; stopped containers are listed too", list, err)
	}
	if err := e.Remove(ctx, id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := e.Inspect(ctx, id); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Inspect after Remove = %v; want ErrNotFound", err)
	}
	if err := e.Remove(ctx, id); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("second Remove = %v; want ErrNotFound", err)
	}
}

func TestRealEngine_CutEngineIsUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker Engine")
	}
	labtest.Docker(t) // fails when the engine does not answer
	proxy := labtest.StartDockerProxy(t)
	e, err := New(proxy.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := e.Version(ctx); err != nil {
		t.Fatalf("Version through the proxy: %v", err)
	}
	proxy.Cut()
	_, _, err = e.Image(ctx, labtest.ImageRepo+":v1")
	if !errors.Is(err, deploy.ErrUnavailable) || !strings.Contains(err.Error(), proxy.Host) {
		t.Errorf("Image with the engine cut off = %v; want ErrUnavailable naming %s", err, proxy.Host)
	}
	if _, err := e.List(ctx, map[string]string{labtest.NodeLabel: "x"}); !errors.Is(err, deploy.ErrUnavailable) {
		t.Errorf("List with the engine cut off = %v; want ErrUnavailable", err)
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.List(ctx, map[string]string{labtest.NodeLabel: "x"}); err != nil {
		t.Errorf("List after the engine is back = %v", err)
	}
}
