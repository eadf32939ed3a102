package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/labfleet/labfleet/internal/labtest"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// withBind adds a bind mount of src at /data to req.
func withBind(req *agentv1.DeployRequest, src string) *agentv1.DeployRequest {
	req.Spec.Mounts = append(req.Spec.Mounts, &agentv1.Mount{Source: src, Target: "/data", Type: agentv1.MountType_MOUNT_TYPE_BIND})
	return req
}

// sidecar is a deploy of image as app, on network mode network, with no
// port of its own and no health check beyond staying up.
func sidecar(app, image, network string) *agentv1.DeployRequest {
	return &agentv1.DeployRequest{App: app, Image: image, Version: "v1",
		Spec:   &agentv1.ContainerSpec{NetworkMode: network, Env: map[string]string{"PORT": "8001"}},
		Health: &agentv1.HealthCheck{Type: agentv1.HealthCheckType_HEALTH_CHECK_TYPE_NONE}}
}

// An agent started without policy flags refuses, before pulling or
// creating anything, every deploy that would be root on the node: a bind
// mount of a system path, of the Docker socket or of a directory holding
// it, any bind mount at all (no prefix is allowed), host networking, and
// joining a container that is not one of this node's apps.
func TestPolicy_DefaultDenyRefusesBeforeAnythingRuns(t *testing.T) {
	t.Parallel()
	v1 := testImage(t, "v1", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	node, other := labtest.NodeName(t, "deny"), labtest.NodeName(t, "denyother")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node})
	b := labtest.StartAgent(t, labtest.AgentOptions{Name: other})
	c := a.Client(t)

	dir := t.TempDir()
	etcLink := filepath.Join(dir, "etc")
	if err := os.Symlink("/etc", etcLink); err != nil {
		t.Fatal(err)
	}
	web := func() *agentv1.DeployRequest { return labtest.WebDeploy("web", v1, "v1", "", appPort, 30*time.Second) }
	refused := []struct {
		what string
		req  *agentv1.DeployRequest
		msg  []string
	}{
		{"/etc", withBind(web(), "/etc"), []string{"bind mount /etc: /etc is never mounted (host policy); mounts are allowed under --allow-mount-prefix (now: none)"}},
		{"the Docker socket", withBind(web(), "/var/run/docker.sock"), []string{"the Docker Engine socket", "is never mounted"}},
		{"a parent of the Docker socket", withBind(web(), "/var"), []string{"bind mount /var: it contains the Docker Engine socket"}},
		{"/ read-only", withBind(web(), "/"), []string{"the host's root / is never mounted"}},
		{"a symlink to /etc", withBind(web(), etcLink), []string{"(resolves to /etc): /etc is never mounted"}},
		{"any directory, with no prefix allowed", withBind(web(), dir), []string{"not under a directory this node allows mounts from", "--allow-mount-prefix (now: none)"}},
		{"host networking", func() *agentv1.DeployRequest {
			r := web()
			r.Spec.Ports, r.Spec.NetworkMode = nil, "host"
			return r
		}(), []string{"network_mode host: host networking is refused (host policy); start labagent with --allow-host-network to allow it"}},
		{"a dry run of /etc", func() *agentv1.DeployRequest { r := withBind(web(), "/etc"); r.DryRun = true; return r }(), []string{"/etc is never mounted"}},
	}
	for _, r := range refused {
		labtest.WantCode(t, r.what, labtest.Deploy(t, c, r.req).Err, codes.PermissionDenied, r.msg...)
	}
	if n := len(labtest.AppContainers(t, cli, node, "web")); n != 0 {
		t.Errorf("refused deploys created containers: %v", labtest.ContainerStates(t, cli, node, "web"))
	}
	if h := labtest.History(t, c, ""); len(h) != 0 {
		t.Errorf("refused deploys were recorded: %v", labtest.HistoryIDs(h))
	}

	// Joining a container's network: only this node's own app containers.
	// Both agents share one engine, so the other node's container exists.
	theirs := labtest.Deploy(t, b.Client(t), labtest.WebDeploy("web", v1, "v1", "", appPort, 30*time.Second)).MustSucceed(t, "web on the other node")
	theirName := labtest.Inspect(t, cli, theirs.GetContainerId()).Name[1:]
	labtest.WantCode(t, "joining another node's container", labtest.Deploy(t, c, sidecar("side", v1, "container:"+theirName)).Err,
		codes.PermissionDenied, theirName+" is not a container of an app on node "+node)
	ours := labtest.Deploy(t, c, web()).MustSucceed(t, "web on this node")
	ourName := labtest.Inspect(t, cli, ours.GetContainerId()).Name[1:]
	// The engine would take a container *named* like the prefix first.
	labtest.WantCode(t, "joining ours by an ID prefix", labtest.Deploy(t, c, sidecar("side", v1, "container:"+ours.GetContainerId()[:12])).Err,
		codes.PermissionDenied, "named by container name or full ID")
	side := labtest.Deploy(t, c, sidecar("side", v1, "container:"+ourName)).MustSucceed(t, "a sidecar on this node's web container")
	if mode := string(labtest.Inspect(t, cli, side.GetContainerId()).HostConfig.NetworkMode); mode != "container:"+ourName && mode != "container:"+ours.GetContainerId() {
		t.Errorf("the sidecar's network mode is %q, want web's container", mode)
	}
}

// --allow-mount-prefix and --allow-host-network allow what they name and no
// more: the system paths, the agent's own state directory and the engine
// socket it uses stay refused under an allowed prefix. (These need
// labagent's policy flags.)
func TestPolicy_FlagsAllowWhatTheyName(t *testing.T) {
	t.Parallel()
	v1 := testImage(t, "v1", labtest.ModeHealthy)
	cli := labtest.Docker(t)
	proxy := labtest.StartDockerProxy(t)
	node := labtest.NodeName(t, "allow")
	prefix, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, state := filepath.Join(prefix, "data"), filepath.Join(prefix, "state")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(prefix, "etc")); err != nil {
		t.Fatal(err)
	}
	sockDir := filepath.Dir(proxy.Path)
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node, Args: []string{
		"--state-dir", state, "--docker-host", proxy.Host,
		"--allow-mount-prefix", prefix, "--allow-mount-prefix", sockDir, "--allow-host-network"}})
	c := a.Client(t)
	web := func() *agentv1.DeployRequest { return labtest.WebDeploy("web", v1, "v1", "", appPort, 30*time.Second) }

	r := labtest.Deploy(t, c, withBind(web(), data)).MustSucceed(t, "a bind mount under --allow-mount-prefix")
	if m := labtest.Inspect(t, cli, r.GetContainerId()).HostConfig.Mounts; len(m) != 1 || m[0].Source != data || m[0].Target != "/data" {
		t.Errorf("the container's mounts: %+v; want %s at /data", m, data)
	}
	refused := []struct {
		what, src string
		msg       []string
	}{
		{"a symlink out of the prefix", filepath.Join(prefix, "etc"), []string{"(resolves to /etc): /etc is never mounted", "(now: " + prefix + ", " + sockDir + ")"}},
		{"the agent's state directory", state, []string{"the agent's own directory " + state + " is never mounted"}},
		{"inside the state directory", filepath.Join(state, "deploy"), []string{"inside the agent's own directory " + state}},
		{"the prefix holding the state directory", prefix, []string{"it contains the agent's own directory " + state}},
		{"the engine socket the agent uses", proxy.Path, []string{"the Docker Engine socket " + proxy.Path + " is never mounted"}},
		{"the directory of that socket", sockDir, []string{"it contains the Docker Engine socket " + proxy.Path}},
		{"outside every prefix", t.TempDir(), []string{"not under a directory this node allows mounts from"}},
	}
	for _, x := range refused {
		labtest.WantCode(t, x.what, labtest.Deploy(t, c, withBind(web(), x.src)).Err, codes.PermissionDenied, x.msg...)
	}

	// Host networking: the app listens on a free port of the node itself.
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	host := &agentv1.DeployRequest{App: "edge", Image: v1, Version: "v1",
		Spec:   &agentv1.ContainerSpec{NetworkMode: "host", Env: map[string]string{"PORT": strconv.Itoa(port)}},
		Health: &agentv1.HealthCheck{HttpPath: "/healthz", HttpPort: uint32(port), Timeout: durationpb.New(30 * time.Second)}}
	e := labtest.Deploy(t, c, host).MustSucceed(t, "host networking with --allow-host-network")
	if mode := labtest.Inspect(t, cli, e.GetContainerId()).HostConfig.NetworkMode; mode != "host" {
		t.Errorf("network mode %q, want host", mode)
	}
}
