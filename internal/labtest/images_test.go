package labtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// runApp starts a test image with port 8000 published on a fresh loopback
// IP and returns the container ID and the published host:port. The
// container is force-removed when the test ends.
func runApp(t *testing.T, cli *client.Client, ref string, env ...string) (id, addr string) {
	t.Helper()
	ctx := context.Background()
	ip := LoopbackIP()
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{Image: ref, Env: env, Labels: map[string]string{TestLabel: "1"}},
		&container.HostConfig{PortBindings: nat.PortMap{"8000/tcp": {{HostIP: ip, HostPort: "0"}}}},
		nil, nil, "")
	if err != nil {
		t.Fatalf("create container from %s: %v", ref, err)
	}
	t.Cleanup(func() {
		err := cli.ContainerRemove(context.Background(), resp.ID, container.RemoveOptions{Force: true})
		if err != nil {
			t.Errorf("remove container %s: %v", resp.ID, err)
		}
	})
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container from %s: %v", ref, err)
	}
	ins, err := cli.ContainerInspect(ctx, resp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b := ins.NetworkSettings.Ports["8000/tcp"]; len(b) > 0 {
		addr = net.JoinHostPort(b[0].HostIP, b[0].HostPort)
	}
	return resp.ID, addr
}

// get waits up to 10 s for the app to accept connections, then returns the
// status and body of one GET.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + path)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s on %s: %v", path, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func logs(t *testing.T, cli *client.Client, id string) string {
	t.Helper()
	rc, err := cli.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestBuildImage_HealthyServesAndStopsGracefully(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	start := time.Now()
	ref := BuildImage(t, ImageOptions{Version: "v7"})
	t.Logf("BuildImage took %v", time.Since(start))
	if !strings.HasPrefix(ref, ImageRepo+":v7-healthy-") {
		t.Errorf("ref = %q, want %s:v7-healthy-<hash>", ref, ImageRepo)
	}
	if again := BuildImage(t, ImageOptions{Version: "v7", Mode: ModeHealthy}); again != ref {
		t.Errorf("second BuildImage = %q, want the cached %q", again, ref)
	}
	img, err := cli.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if img.Config.Labels[TestLabel] != "1" {
		t.Errorf("image labels = %v, want %s=1", img.Config.Labels, TestLabel)
	}

	id, addr := runApp(t, cli, ref)
	if code, body := get(t, addr, "/healthz"); code != 200 || body != "ok" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	if code, body := get(t, addr, "/version"); code != 200 || body != "v7" {
		t.Errorf("/version = %d %q, want 200 v7", code, body)
	}
	if code, body := get(t, addr, "/"); code != 200 || !strings.HasPrefix(body, "hello from v7 on ") {
		t.Errorf("/ = %d %q, want 200 hello from v7 on <host>", code, body)
	}

	// SIGTERM must stop it well before Docker's 10 s SIGKILL fallback.
	stopStart := time.Now()
	if err := cli.ContainerStop(context.Background(), id, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(stopStart); d > 5*time.Second {
		t.Errorf("stop took %v: SIGTERM not handled", d)
	}
	ins, err := cli.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := logs(t, cli, id)
	if ins.State.ExitCode != 0 || !strings.Contains(out, "listening on :8000 version v7") || !strings.Contains(out, "shutting down") {
		t.Errorf("after stop: exit code %d, logs:\n%s", ins.State.ExitCode, out)
	}
}

func TestBuildImage_ExitModeExitsWithCode3(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	ref := BuildImage(t, ImageOptions{Mode: ModeExit})
	id, _ := runApp(t, cli, ref)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitC, errC := cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 3 {
			t.Errorf("exit code = %d, want 3", w.StatusCode)
		}
	case err := <-errC:
		t.Fatal(err)
	}
	if out := logs(t, cli, id); !strings.Contains(out, "refusing to start") {
		t.Errorf("logs = %q, want refusing to start", out)
	}
}

func TestBuildImage_NeverHealthyAnswers503(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	_, addr := runApp(t, cli, BuildImage(t, ImageOptions{Mode: ModeNeverHealthy}))
	if code, _ := get(t, addr, "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz = %d, want 503", code)
	}
	if code, body := get(t, addr, "/version"); code != 200 || body != "v1" {
		t.Errorf("/version = %d %q, want 200 v1", code, body)
	}
}

func TestBuildImage_SlowStartBecomesHealthy(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	_, addr := runApp(t, cli, BuildImage(t, ImageOptions{Mode: ModeSlowStart}), "SLOW_SECONDS=2")
	if code, _ := get(t, addr, "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz right after start = %d, want 503", code)
	}
	time.Sleep(2 * time.Second)
	if code, _ := get(t, addr, "/healthz"); code != 200 {
		t.Errorf("/healthz after SLOW_SECONDS = %d, want 200", code)
	}
}

func TestBuildImage_DockerHealthcheckBecomesHealthy(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	id, _ := runApp(t, cli, BuildImage(t, ImageOptions{DockerHealthcheck: true}))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ins, err := cli.ContainerInspect(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ins.State.Health == nil {
			t.Fatal("State.Health is nil: the image has no HEALTHCHECK")
		}
		if ins.State.Health.Status == "healthy" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health = %q after 20 s, log: %+v", ins.State.Health.Status, ins.State.Health.Log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Two processes may build the same variant at the same moment; both builds
// must succeed and leave the tag usable.
func TestBuildImage_SameTagTwiceConcurrently(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	bin, err := testappBinary()
	if err != nil {
		t.Fatal(err)
	}
	o := ImageOptions{Version: "concurrent", Mode: ModeHealthy}
	df := dockerfile(o)
	ref := imageRef(bin, o, df)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = buildTagged(context.Background(), cli, ref, df, bin) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ImageInspect(context.Background(), ref); err != nil {
		t.Fatalf("after two concurrent builds: %v", err)
	}
}

func TestRegistry_RefusesRequestsWithoutCredentials(t *testing.T) {
	t.Parallel()
	r := StartRegistry(t, "lab", "secret")
	resp, err := http.Get("http://" + r.Addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="labfleet-test"` {
		t.Errorf("GET /v2/ = %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest("GET", "http://"+r.Addr+"/v2/", nil)
	req.SetBasicAuth("lab", "secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ with credentials = %d, want 200", resp.StatusCode)
	}
}

// pull runs ImagePull and reads its stream to the end, where the engine
// reports failures.
func pull(cli *client.Client, ref, user, password string) error {
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: user, Password: password})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer rc.Close()
	return jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
}

func TestRegistry_PushThenEnginePulls(t *testing.T) {
	t.Parallel()
	cli := Docker(t)
	local := BuildImage(t, ImageOptions{Version: "pushed"})
	r := StartRegistry(t, "lab", "s3cret")
	ref := r.Push(t, local, "web:v1")
	if ref != r.Addr+"/web:v1" {
		t.Errorf("Push returned %q, want %s/web:v1", ref, r.Addr)
	}

	t.Run("good credentials", func(t *testing.T) {
		if err := pull(cli, ref, "lab", "s3cret"); err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		pulled, err := cli.ImageInspect(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := cli.ImageInspect(context.Background(), local)
		if err != nil {
			t.Fatal(err)
		}
		// docker save keeps the config bytes, so the pulled image is the
		// same image, now with a second tag.
		if pulled.ID != orig.ID {
			t.Errorf("pulled image %s, want the pushed %s", pulled.ID, orig.ID)
		}
	})

	// What Docker Engine 20.10 says, as seen through the SDK. Neither is
	// errdefs.IsUnauthorized: the engine answers HTTP 500, so callers can
	// only tell an auth failure by its text.
	t.Run("wrong password", func(t *testing.T) {
		err := pull(cli, ref, "lab", "wrong")
		if err == nil || err.Error() != "Error response from daemon: unauthorized" {
			t.Errorf("pull with a wrong password: %v, want: Error response from daemon: unauthorized", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		// Error response from daemon: Head "http://ADDR/v2/web/manifests/v1": no basic auth credentials
		err := pull(cli, ref, "", "")
		if err == nil || !strings.Contains(err.Error(), "no basic auth credentials") {
			t.Errorf("pull without credentials: %v, want ...: no basic auth credentials", err)
		}
	})
}
