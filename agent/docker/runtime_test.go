package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/labfleet/labfleet/agent/deploy"
)

const longID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// created registers a create handler and returns the decoded request body.
func createAndDecode(t *testing.T, f *fakeEngine, e *Engine, c deploy.ContainerConfig) (container.CreateRequest, request) {
	t.Helper()
	f.onJSON("POST /containers/create", http.StatusCreated, container.CreateResponse{ID: longID})
	id, err := e.Create(context.Background(), c)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if id != longID {
		t.Errorf("Create returned id %q, want %q", id, longID)
	}
	r := f.last(t, "POST /containers/create")
	var body container.CreateRequest
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("create body %s: %v", r.Body, err)
	}
	if body.Config == nil || body.HostConfig == nil {
		t.Fatalf("create body without Config or HostConfig: %s", r.Body)
	}
	return body, r
}

func TestCreate_MapsTheWholeConfig(t *testing.T) {
	f, e := newFakeEngine(t)
	body, r := createAndDecode(t, f, e, deploy.ContainerConfig{
		Name:       "node1-web-0a1b2c3d",
		Image:      "labfleet-test/web:v1",
		Env:        []string{"VERSION=v1", "SECRET=s3cret"},
		Entrypoint: []string{"/app"},
		Command:    []string{"-port", "8000"},
		Labels:     map[string]string{"labfleet.node": "node1", "labfleet.app": "web"},
		Ports: []deploy.Port{
			{ContainerPort: 8000, HostPort: 18000},
			{ContainerPort: 8000, HostPort: 18001, Protocol: "tcp"},
			{ContainerPort: 53, Protocol: "udp"},
		},
		PublishIP:     "127.0.0.11",
		RestartPolicy: "on-failure:3",
		NetworkMode:   "bridge",
		Mounts: []deploy.Mount{
			{Source: "/srv/web/config", Target: "/config", ReadOnly: true},
			{Source: "webdata", Target: "/data", Volume: true},
		},
		MemoryBytes: 256 << 20,
		NanoCPUs:    1_500_000_000,
		StopTimeout: 12700 * time.Millisecond,
		User:        "1000:1000",
		Workdir:     "/srv",
	})
	if got := r.Query.Get("name"); got != "node1-web-0a1b2c3d" {
		t.Errorf("name = %q", got)
	}
	cfg, hc := body.Config, body.HostConfig
	if cfg.Image != "labfleet-test/web:v1" || !reflect.DeepEqual(cfg.Env, []string{"VERSION=v1", "SECRET=s3cret"}) ||
		!reflect.DeepEqual([]string(cfg.Entrypoint), []string{"/app"}) || !reflect.DeepEqual([]string(cfg.Cmd), []string{"-port", "8000"}) ||
		cfg.User != "1000:1000" || cfg.WorkingDir != "/srv" || cfg.Labels["labfleet.node"] != "node1" || len(cfg.Labels) != 2 {
		t.Errorf("config = %+v", cfg)
	}
	// Whole seconds, as the engine takes them, rounded up: a container
	// never gets less grace than asked.
	if cfg.StopTimeout == nil || *cfg.StopTimeout != 13 {
		t.Errorf("StopTimeout = %v, want 13", cfg.StopTimeout)
	}
	wantExposed := nat.PortSet{"8000/tcp": {}, "53/udp": {}}
	if !reflect.DeepEqual(cfg.ExposedPorts, wantExposed) {
		t.Errorf("ExposedPorts = %v, want %v", cfg.ExposedPorts, wantExposed)
	}
	wantBindings := nat.PortMap{
		"8000/tcp": {{HostIP: "127.0.0.11", HostPort: "18000"}, {HostIP: "127.0.0.11", HostPort: "18001"}},
		"53/udp":   {{HostIP: "127.0.0.11", HostPort: ""}}, // the engine picks a port
	}
	if !reflect.DeepEqual(hc.PortBindings, wantBindings) {
		t.Errorf("PortBindings = %v, want %v", hc.PortBindings, wantBindings)
	}
	if hc.RestartPolicy.Name != "on-failure" || hc.RestartPolicy.MaximumRetryCount != 3 {
		t.Errorf("RestartPolicy = %+v", hc.RestartPolicy)
	}
	if hc.NetworkMode != "bridge" || hc.Memory != 256<<20 || hc.NanoCPUs != 1_500_000_000 {
		t.Errorf("NetworkMode %q Memory %d NanoCPUs %d", hc.NetworkMode, hc.Memory, hc.NanoCPUs)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeBind, Source: "/srv/web/config", Target: "/config", ReadOnly: true},
		{Type: mount.TypeVolume, Source: "webdata", Target: "/data"},
	}
	if !reflect.DeepEqual(hc.Mounts, wantMounts) {
		t.Errorf("Mounts = %+v, want %+v", hc.Mounts, wantMounts)
	}
}

func TestCreate_MinimalConfigLeavesEngineDefaults(t *testing.T) {
	f, e := newFakeEngine(t)
	body, _ := createAndDecode(t, f, e, deploy.ContainerConfig{Name: "n-app-1", Image: "busybox:1"})
	if body.Config.StopTimeout != nil {
		t.Errorf("StopTimeout = %d, want unset (the image's or engine's default)", *body.Config.StopTimeout)
	}
	if len(body.Config.ExposedPorts) != 0 || len(body.HostConfig.PortBindings) != 0 || len(body.HostConfig.Mounts) != 0 {
		t.Errorf("ports %v %v mounts %v, want none", body.Config.ExposedPorts, body.HostConfig.PortBindings, body.HostConfig.Mounts)
	}
	if body.HostConfig.RestartPolicy != (container.RestartPolicy{}) || body.HostConfig.NetworkMode != "" {
		t.Errorf("RestartPolicy %+v NetworkMode %q, want the engine's defaults", body.HostConfig.RestartPolicy, body.HostConfig.NetworkMode)
	}
}

func TestStopTimeout_SubSecondKeepsSomeGrace(t *testing.T) {
	f, e := newFakeEngine(t)
	// To the engine a stop timeout of 0 means SIGKILL at once.
	body, _ := createAndDecode(t, f, e, deploy.ContainerConfig{Name: "x", Image: "i", StopTimeout: 500 * time.Millisecond})
	if body.Config.StopTimeout == nil || *body.Config.StopTimeout != 1 {
		t.Errorf("StopTimeout 500ms = %v, want 1 s", body.Config.StopTimeout)
	}
	f.on("POST /containers/abc/stop", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	if err := e.Stop(context.Background(), "abc", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := f.last(t, "POST /containers/abc/stop").Query.Get("t"); got != "1" {
		t.Errorf("Stop(300ms) sent t=%q, want 1", got)
	}
}

func TestCreate_RestartPolicies(t *testing.T) {
	f, e := newFakeEngine(t)
	for _, c := range []struct {
		in      string
		name    string
		retries int
	}{
		{"", "", 0},
		{"no", "no", 0},
		{"always", "always", 0},
		{"unless-stopped", "unless-stopped", 0},
		{"on-failure", "on-failure", 0},
		{"on-failure:5", "on-failure", 5},
		{"on-failure:0", "on-failure", 0},
	} {
		body, _ := createAndDecode(t, f, e, deploy.ContainerConfig{Name: "x", Image: "i", RestartPolicy: c.in})
		got := body.HostConfig.RestartPolicy
		if string(got.Name) != c.name || got.MaximumRetryCount != c.retries {
			t.Errorf("%q: RestartPolicy %+v, want %s with %d retries", c.in, got, c.name, c.retries)
		}
	}
}

func TestCreate_ConflictIsNotClassified(t *testing.T) {
	f, e := newFakeEngine(t)
	f.onError("POST /containers/create", http.StatusConflict, `Conflict. The container name "/x" is already in use`)
	_, err := e.Create(context.Background(), deploy.ContainerConfig{Name: "x", Image: "i"})
	if err == nil || !strings.HasPrefix(err.Error(), "create container x: ") || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("Create = %v", err)
	}
	if errors.Is(err, deploy.ErrNotFound) || errors.Is(err, deploy.ErrUnavailable) {
		t.Errorf("a name conflict was classified: %v", err)
	}
	// A missing image is ErrNotFound.
	f.onError("POST /containers/create", http.StatusNotFound, "No such image: i:latest")
	if _, err := e.Create(context.Background(), deploy.ContainerConfig{Name: "x", Image: "i"}); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Create with a missing image = %v; want ErrNotFound", err)
	}
}

const inspectJSON = `{
  "Id": "` + longID + `",
  "Name": "/node1-web-0a1b2c3d",
  "Image": "sha256:feedbeef",
  "RestartCount": 2,
  "Created": "2026-01-02T03:04:05.123456789Z",
  "Config": {"Image": "labfleet-test/web:v1", "Labels": {"labfleet.app": "web"}, "Env": ["VERSION=v1", "PW=s3cret"]},
  "State": {"Status": "restarting", "Running": true, "Restarting": true, "ExitCode": 3,
            "StartedAt": "2026-01-02T03:04:06Z", "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "unhealthy"}},
  "HostConfig": {"NetworkMode": "bridge"},
  "NetworkSettings": {
    "IPAddress": "",
    "Networks": {"bridge": {"IPAddress": "172.17.0.5"}},
    "Ports": {"8000/tcp": [{"HostIp": "127.0.0.11", "HostPort": "18000"}, {"HostIp": "::1", "HostPort": "18000"}],
              "53/udp": [{"HostIp": "127.0.0.11", "HostPort": "5353"}],
              "9000/tcp": null}
  }
}`

func TestInspect_MapsTheEngineView(t *testing.T) {
	f, e := newFakeEngine(t)
	f.on("GET /containers/"+longID+"/json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, inspectJSON)
	})
	c, err := e.Inspect(context.Background(), longID)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(c.Ports, func(i, j int) bool {
		a, b := c.Ports[i], c.Ports[j]
		return fmt.Sprint(a.ContainerPort, a.HostIP) < fmt.Sprint(b.ContainerPort, b.HostIP)
	})
	want := deploy.Container{
		ID: longID, Name: "node1-web-0a1b2c3d", Image: "labfleet-test/web:v1", ImageID: "sha256:feedbeef",
		Labels: map[string]string{"labfleet.app": "web"},
		// Restarting: the engine says Running, but nothing serves.
		State: "restarting", Running: false, ExitCode: 3, Health: "unhealthy", RestartCount: 2,
		Created:   time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		StartedAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Ports: []deploy.PortBinding{
			{HostIP: "127.0.0.11", HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
			{HostIP: "127.0.0.11", HostPort: 18000, ContainerPort: 8000, Protocol: "tcp"},
			{HostIP: "::1", HostPort: 18000, ContainerPort: 8000, Protocol: "tcp"},
		},
		IPAddress: "172.17.0.5", NetworkMode: "bridge",
		// The deploy engine needs the values to mask them in log lines.
		Env: []string{"VERSION=v1", "PW=s3cret"},
	}
	if !c.FinishedAt.IsZero() {
		t.Errorf("FinishedAt = %v, want zero", c.FinishedAt)
	}
	c.FinishedAt = time.Time{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Inspect =\n %+v\nwant\n %+v", c, want)
	}
}

func TestInspect_RunningWithoutHealthcheck(t *testing.T) {
	f, e := newFakeEngine(t)
	f.onJSON("GET /containers/abc/json", http.StatusOK, map[string]any{
		"Id": "abc", "Name": "/x", "State": map[string]any{"Status": "running", "Running": true},
		"NetworkSettings": map[string]any{"IPAddress": "172.17.0.9", "Networks": map[string]any{"bridge": map[string]any{"IPAddress": "172.17.0.10"}}},
	})
	c, err := e.Inspect(context.Background(), "abc")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Running || c.State != "running" || c.Health != "" || c.IPAddress != "172.17.0.9" || c.Image != "" || len(c.Ports) != 0 {
		t.Errorf("Inspect = %+v", c)
	}
}

func TestList_FiltersByLabelsAndSkipsVanished(t *testing.T) {
	f, e := newFakeEngine(t)
	f.onJSON("GET /containers/json", http.StatusOK, []map[string]any{{"Id": "aaa"}, {"Id": "gone"}, {"Id": "ccc"}})
	for _, id := range []string{"aaa", "ccc"} {
		f.onJSON("GET /containers/"+id+"/json", http.StatusOK, map[string]any{"Id": id, "Name": "/" + id, "State": map[string]any{"Status": "exited"}})
	}
	f.onError("GET /containers/gone/json", http.StatusNotFound, "No such container: gone")
	got, err := e.List(context.Background(), map[string]string{"labfleet.node": "node1", "labfleet.app": "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "aaa" || got[1].ID != "ccc" || got[1].Name != "ccc" || got[0].State != "exited" {
		t.Fatalf("List = %+v; want aaa and ccc, in the engine's order", got)
	}
	r := f.last(t, "GET /containers/json")
	if r.Query.Get("all") != "1" {
		t.Errorf("all = %q: stopped containers must be listed too", r.Query.Get("all"))
	}
	var filters map[string]map[string]bool
	if err := json.Unmarshal([]byte(r.Query.Get("filters")), &filters); err != nil {
		t.Fatalf("filters %q: %v", r.Query.Get("filters"), err)
	}
	want := map[string]map[string]bool{"label": {"labfleet.node=node1": true, "labfleet.app=web": true}}
	if !reflect.DeepEqual(filters, want) {
		t.Errorf("filters = %v, want %v", filters, want)
	}

	// Any other inspect error fails the list.
	f.onError("GET /containers/ccc/json", http.StatusInternalServerError, "boom")
	if _, err := e.List(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "inspect container ccc: ") {
		t.Errorf("List with a failing inspect = %v", err)
	}
}

func TestLogs_DemultiplexesAndTails(t *testing.T) {
	f, e := newFakeEngine(t)
	f.on("GET /containers/"+longID+"/logs", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
		out, errw := stdcopy.NewStdWriter(w, stdcopy.Stdout), stdcopy.NewStdWriter(w, stdcopy.Stderr)
		fmt.Fprint(out, "listening on :8000\n")
		fmt.Fprint(errw, "warning: slow\n")
		fmt.Fprint(out, "GET /healthz 200\nlast line without newline")
	})
	lines, err := e.Logs(context.Background(), longID, 20)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"listening on :8000", "warning: slow", "GET /healthz 200", "last line without newline"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("Logs = %q, want %q", lines, want)
	}
	r := f.last(t, "GET /containers/"+longID+"/logs")
	if r.Query.Get("tail") != "20" || r.Query.Get("stdout") != "1" || r.Query.Get("stderr") != "1" {
		t.Errorf("logs query %v", r.Query)
	}
	f.onError("GET /containers/nope/logs", http.StatusNotFound, "No such container: nope")
	if _, err := e.Logs(context.Background(), "nope", 5); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("Logs of a missing container = %v; want ErrNotFound", err)
	}
}

func TestStartStopRemove(t *testing.T) {
	f, e := newFakeEngine(t)
	noContent := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	f.on("POST /containers/"+longID+"/start", noContent)
	f.on("POST /containers/"+longID+"/stop", noContent)
	f.on("DELETE /containers/"+longID, noContent)
	ctx := context.Background()
	if err := e.Start(ctx, longID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := e.Stop(ctx, longID, 7900*time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := f.last(t, "POST /containers/"+longID+"/stop").Query.Get("t"); got != "8" {
		t.Errorf("stop t = %q, want 8 (rounded up)", got)
	}
	// Timeout 0: the container's own, which the call's deadline allows for.
	f.onJSON("GET /containers/"+longID+"/json", http.StatusOK, map[string]any{"Id": longID, "Config": map[string]any{"StopTimeout": 20}})
	if err := e.Stop(ctx, longID, 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if q := f.last(t, "POST /containers/"+longID+"/stop").Query; q.Has("t") {
		t.Errorf("stop with timeout 0 sent t=%q; want the container's own stop timeout", q.Get("t"))
	}
	if err := e.Remove(ctx, longID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if q := f.last(t, "DELETE /containers/"+longID).Query; q.Get("force") != "1" || q.Get("v") == "1" {
		t.Errorf("remove query %v: want force, and anonymous volumes kept", q)
	}

	// Errors name the step and the short id.
	f.onError("POST /containers/"+longID+"/start", http.StatusNotFound, "No such container: "+longID)
	err := e.Start(ctx, longID)
	if !errors.Is(err, deploy.ErrNotFound) || !strings.Contains(err.Error(), "start container 0123456789ab: ") || strings.Contains(err.Error(), "start container "+longID) {
		t.Errorf("Start of a missing container = %v; want ErrNotFound naming the short id", err)
	}
	f.onError("POST /containers/"+longID+"/start", http.StatusInternalServerError, "driver failed programming external connectivity: port is already allocated")
	err = e.Start(ctx, longID)
	if err == nil || errors.Is(err, deploy.ErrNotFound) || errors.Is(err, deploy.ErrUnavailable) || !strings.Contains(err.Error(), "port is already allocated") {
		t.Errorf("Start with a taken port = %v; want the engine's message, unclassified", err)
	}
}

func TestImage(t *testing.T) {
	f, e := newFakeEngine(t)
	f.onJSON("GET /images/web:v1/json", http.StatusOK, map[string]any{"Id": "sha256:aaa", "RepoDigests": []string{"reg/web@sha256:bbb"},
		"Config": map[string]any{"Healthcheck": map[string]any{"Test": []string{"CMD", "/app", "-healthcheck"}}}})
	f.onJSON("GET /images/web:nohc/json", http.StatusOK, map[string]any{"Id": "sha256:ccc",
		"Config": map[string]any{"Healthcheck": map[string]any{"Test": []string{"NONE"}}}})
	f.onJSON("GET /images/web:plain/json", http.StatusOK, map[string]any{"Id": "sha256:ddd", "Config": map[string]any{}})
	f.onError("GET /images/web:absent/json", http.StatusNotFound, "No such image: web:absent")
	f.onError("GET /images/web:broken/json", http.StatusInternalServerError, "layer does not exist")
	ctx := context.Background()
	cases := []struct {
		ref    string
		info   deploy.ImageInfo
		ok     bool
		errSub string
	}{
		{"web:v1", deploy.ImageInfo{ID: "sha256:aaa", RepoDigests: []string{"reg/web@sha256:bbb"}, HasHealthcheck: true}, true, ""},
		{"web:nohc", deploy.ImageInfo{ID: "sha256:ccc"}, true, ""},
		{"web:plain", deploy.ImageInfo{ID: "sha256:ddd"}, true, ""},
		{"web:absent", deploy.ImageInfo{}, false, ""},
		{"web:broken", deploy.ImageInfo{}, false, "inspect image web:broken: "},
	}
	for _, c := range cases {
		info, ok, err := e.Image(ctx, c.ref)
		if c.errSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.errSub) || errors.Is(err, deploy.ErrNotFound) {
				t.Errorf("%s: err = %v, want one containing %q", c.ref, err, c.errSub)
			}
			continue
		}
		if err != nil || ok != c.ok || !reflect.DeepEqual(info, c.info) {
			t.Errorf("%s: Image = %+v, %v, %v; want %+v, %v", c.ref, info, ok, err, c.info, c.ok)
		}
	}
}

func TestRemoveImage(t *testing.T) {
	f, e := newFakeEngine(t)
	f.onJSON("DELETE /images/sha256:aaa", http.StatusOK, []map[string]string{{"Deleted": "sha256:aaa"}})
	if err := e.RemoveImage(context.Background(), "sha256:aaa"); err != nil {
		t.Fatal(err)
	}
	if q := f.last(t, "DELETE /images/sha256:aaa").Query; q.Has("noprune") || q.Get("force") == "1" {
		t.Errorf("remove image query %v: want untagged parents pruned and no force", q)
	}
	f.onError("DELETE /images/sha256:aaa", http.StatusConflict, "conflict: unable to delete sha256:aaa (cannot be forced) - image is being used by running container")
	err := e.RemoveImage(context.Background(), "sha256:aaa")
	if err == nil || !strings.Contains(err.Error(), "remove image sha256:aaa: ") || errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("RemoveImage of a used image = %v", err)
	}
}

// pullStream writes JSON messages as the engine streams a pull.
func pullStream(msgs ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for _, m := range msgs {
			fmt.Fprintln(w, m)
		}
	}
}

type progressCall struct {
	cur, total int64
	status     string
}

func TestPull_ProgressSumsLayers(t *testing.T) {
	f, e := newFakeEngine(t)
	f.on("POST /images/create", pullStream(
		`{"status":"Pulling from labfleet-test/web","id":"v2"}`,
		`{"status":"Downloading","progressDetail":{"current":100,"total":1000},"id":"layer1"}`,
		`{"status":"Downloading","progressDetail":{"current":50,"total":500},"id":"layer2"}`,
		`{"status":"Downloading","progressDetail":{"current":400,"total":1000},"id":"layer1"}`,
		`{"status":"Download complete","id":"layer2"}`,
		`{"status":"Digest: sha256:abc"}`,
	))
	var calls []progressCall
	auth := &deploy.RegistryAuth{Username: "ci", Password: `p@ss"word`, Server: "127.0.0.1:5000"}
	err := e.Pull(context.Background(), "127.0.0.1:5000/labfleet-test/web:v2", auth, func(cur, total int64, status string) {
		calls = append(calls, progressCall{cur, total, status})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []progressCall{
		{0, 0, "v2: Pulling from labfleet-test/web"},
		{100, 1000, "layer1: Downloading"},
		{150, 1500, "layer2: Downloading"},
		{450, 1500, "layer1: Downloading"},
		{450, 1500, "layer2: Download complete"},
		{450, 1500, "Digest: sha256:abc"},
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("progress:\n %v\nwant\n %v", calls, want)
	}
	r := f.last(t, "POST /images/create")
	if r.Query.Get("fromImage") != "127.0.0.1:5000/labfleet-test/web" || r.Query.Get("tag") != "v2" {
		t.Errorf("pull query %v", r.Query)
	}
	ac, err := registry.DecodeAuthConfig(r.Header.Get(registry.AuthHeader))
	if err != nil {
		t.Fatalf("X-Registry-Auth: %v", err)
	}
	if ac.Username != "ci" || ac.Password != `p@ss"word` || ac.ServerAddress != "127.0.0.1:5000" {
		t.Errorf("registry auth %+v", ac)
	}

	// Without credentials no auth header goes out.
	if err := e.Pull(context.Background(), "web:v2", nil, func(int64, int64, string) {}); err != nil {
		t.Fatal(err)
	}
	if h := f.last(t, "POST /images/create").Header.Get(registry.AuthHeader); h != "" {
		if ac, _ := registry.DecodeAuthConfig(h); ac.Username != "" || ac.Password != "" {
			t.Errorf("anonymous pull sent credentials %+v", ac)
		}
	}
}

func TestPull_Errors(t *testing.T) {
	f, e := newFakeEngine(t)
	noProgress := func(int64, int64, string) {}
	ctx := context.Background()
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string // the whole message
	}{
		{"refused credentials in the stream", pullStream(`{"status":"Pulling"}`,
			`{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}`),
			"the registry refused the credentials (unauthorized: authentication required); check the registry user and password or token"},
		{"refused credentials as HTTP 500", func(w http.ResponseWriter, _ *http.Request) {
			engineError(w, http.StatusInternalServerError, "Head \"https://reg/v2/web/manifests/v2\": no basic auth credentials")
		}, "the registry refused the credentials (Error response from daemon: Head \"https://reg/v2/web/manifests/v2\": no basic auth credentials); check the registry user and password or token"},
		{"unknown tag", pullStream(`{"errorDetail":{"message":"manifest for web:v9 not found: manifest unknown"},"error":"manifest for web:v9 not found: manifest unknown"}`),
			"manifest for web:v9 not found: manifest unknown"},
		{"broken stream", pullStream(`{"status":"Pulling"`), "read pull progress of web:v9: unexpected EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.on("POST /images/create", c.handler)
			err := e.Pull(ctx, "web:v9", nil, noProgress)
			if err == nil || err.Error() != c.want {
				t.Fatalf("Pull = %v\nwant %s", err, c.want)
			}
			if errors.Is(err, deploy.ErrUnavailable) {
				t.Errorf("a registry error was classified as an unreachable engine: %v", err)
			}
		})
	}
}

func TestUnreachableEngineIsUnavailable(t *testing.T) {
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	t.Setenv("DOCKER_API_VERSION", "")
	for _, host := range []string{"tcp://" + closedAddr(t), "unix://" + filepath.Join(t.TempDir(), "docker.sock")} {
		t.Run(host, func(t *testing.T) {
			e, err := New(host)
			if err != nil {
				t.Fatalf("New must not connect: %v", err)
			}
			defer e.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			calls := map[string]error{
				"start": e.Start(ctx, longID),
				"pull":  e.Pull(ctx, "web:v1", nil, func(int64, int64, string) {}),
			}
			_, _, calls["image"] = e.Image(ctx, "web:v1")
			_, calls["create"] = e.Create(ctx, deploy.ContainerConfig{Name: "x", Image: "web:v1"})
			_, calls["list"] = e.List(ctx, map[string]string{"a": "b"})
			for what, err := range calls {
				if !errors.Is(err, deploy.ErrUnavailable) || !strings.Contains(err.Error(), "Docker Engine at "+host) {
					t.Errorf("%s: %v; want ErrUnavailable naming %s", what, err, host)
				}
			}
			if _, _, err := e.Version(ctx); !errors.Is(err, deploy.ErrUnavailable) || !strings.Contains(err.Error(), "Docker Engine at "+host) {
				t.Errorf("Version: %v; want ErrUnavailable naming %s", err, host)
			}
		})
	}
}

func TestSlowEngineIsNotUnavailable(t *testing.T) {
	f, e := newFakeEngine(t)
	release := make(chan struct{})
	defer close(release)
	f.on("POST /containers/abc/start", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := e.Start(ctx, "abc")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, deploy.ErrUnavailable) {
		t.Fatalf("Start on an engine that answers too late = %v; want DeadlineExceeded, not ErrUnavailable", err)
	}
}

func TestVersion(t *testing.T) {
	f, e := newFakeEngine(t)
	f.onJSON("GET /version", http.StatusOK, map[string]string{"Version": "20.10.24+dfsg1", "ApiVersion": "1.41", "MinAPIVersion": "1.12"})
	engine, api, err := e.Version(context.Background())
	if err != nil || engine != "20.10.24+dfsg1" || api != "1.41" {
		t.Fatalf("Version = %q, %q, %v; want the engine's version and the negotiated API 1.41", engine, api, err)
	}
}

func TestShort(t *testing.T) {
	for in, want := range map[string]string{longID: "0123456789ab", "abc": "abc", "": "", "0123456789abc": "0123456789ab"} {
		if got := short(in); got != want {
			t.Errorf("short(%q) = %q, want %q", in, got, want)
		}
	}
}
