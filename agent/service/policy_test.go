package service

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/policy"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// socketEngine is an engine reached over a unix socket, as the docker
// package's Engine is.
type socketEngine struct {
	fakeEngine
	socket string
}

func (e socketEngine) Socket() string { return e.socket }

// policyService is deployService with rt also listing containers for the
// policy, as labagent's docker engine does.
func policyService(t *testing.T, rt *fakeRuntime, p policy.Policy) *Service {
	t.Helper()
	svc := deployService(t, rt)
	svc.Containers = rt
	svc.Policy = p
	return svc
}

func withMount(req *agentv1.DeployRequest, src string) *agentv1.DeployRequest {
	req.Spec.Mounts = append(req.Spec.Mounts, &agentv1.Mount{Source: src, Target: "/data", Type: agentv1.MountType_MOUNT_TYPE_BIND})
	return req
}

// wantNothingDone fails the test if the refused deploy pulled, created or
// recorded anything.
func wantNothingDone(t *testing.T, svc *Service, rt *fakeRuntime, s stream) {
	t.Helper()
	if len(s.events) != 0 || s.result != nil {
		t.Errorf("a refused deploy streamed %d events and result %v; want none", len(s.events), s.result)
	}
	rt.mu.Lock()
	pulled, created := len(rt.images), len(rt.containers)
	rt.mu.Unlock()
	if pulled != 0 || created != 0 {
		t.Errorf("a refused deploy pulled %d images and created %d containers", pulled, created)
	}
	if h, err := svc.Deploys.History("", 10); err != nil || len(h) != 0 {
		t.Errorf("a refused deploy was recorded: %v %v", h, err)
	}
}

func TestDeploy_HostPolicyRefusesBeforeAnythingIsPulled(t *testing.T) {
	allowed := t.TempDir()
	cases := []struct {
		name string
		p    policy.Policy
		req  func() *agentv1.DeployRequest
		code codes.Code
		msg  []string
	}{
		{"/etc by default", policy.Policy{}, func() *agentv1.DeployRequest { return withMount(deployReq("d1", "todo:v1"), "/etc") },
			codes.PermissionDenied, []string{"bind mount /etc: /etc is never mounted (host policy); mounts are allowed under --allow-mount-prefix (now: none)"}},
		{"/etc through .. from a prefix", policy.Policy{MountPrefixes: []string{allowed}}, func() *agentv1.DeployRequest {
			return withMount(deployReq("d1", "todo:v1"), allowed+"/../../../../../../../etc")
		}, codes.PermissionDenied, []string{"/etc is never mounted"}},
		{"the docker socket's parent", policy.Policy{MountPrefixes: []string{"/var"}}, func() *agentv1.DeployRequest { return withMount(deployReq("d1", "todo:v1"), "/var") },
			codes.PermissionDenied, []string{"contains the Docker Engine socket"}},
		{"a dry run", policy.Policy{}, func() *agentv1.DeployRequest {
			r := withMount(deployReq("d1", "todo:v1"), "/proc")
			r.DryRun = true
			return r
		}, codes.PermissionDenied, []string{"/proc is never mounted"}},
		{"no prefix configured", policy.Policy{}, func() *agentv1.DeployRequest { return withMount(deployReq("d1", "todo:v1"), allowed) },
			codes.PermissionDenied, []string{"not under a directory this node allows mounts from", "--allow-mount-prefix (now: none)"}},
		{"host network by default", policy.Policy{}, func() *agentv1.DeployRequest {
			r := deployReq("d1", "todo:v1")
			r.Spec.NetworkMode = "host"
			return r
		}, codes.PermissionDenied, []string{"start labagent with --allow-host-network"}},
		{"a container not of this node", policy.Policy{}, func() *agentv1.DeployRequest {
			r := deployReq("d1", "todo:v1")
			r.Spec.NetworkMode = "container:node2-db-0a1b2c3d"
			return r
		}, codes.PermissionDenied, []string{"node2-db-0a1b2c3d is not a container of an app on node node1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := newFakeRuntime("todo:v1")
			// Another agent's container on the same engine.
			rt.containers["f1"] = &deploy.Container{ID: "f1", Name: "node2-db-0a1b2c3d", State: "running", Running: true,
				Labels: map[string]string{deploy.LabelNode: "node2", deploy.LabelApp: "db"}}
			svc := policyService(t, rt, c.p)
			s := runDeploy(t, serve(t, svc), c.req())
			wantCode(t, c.name, s.err, c.code, c.msg[0])
			for _, m := range c.msg[1:] {
				wantCode(t, c.name, s.err, c.code, m)
			}
			delete(rt.containers, "f1")
			wantNothingDone(t, svc, rt, s)
		})
	}
}

// Each thing refused by default runs once labagent's flag allows it, and
// a container may join the network of this node's own app container.
func TestDeploy_HostPolicyFlagsAllowWhatTheyName(t *testing.T) {
	prefix := t.TempDir()
	data := filepath.Join(prefix, "todo")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	rt := newFakeRuntime("todo:v1", "sidecar:v1", "edge:v1")
	svc := policyService(t, rt, policy.Policy{})
	c := serve(t, svc)
	todo := func() *agentv1.DeployRequest { return withMount(deployReq("d1", "todo:v1"), data) }
	edge := func() *agentv1.DeployRequest {
		return &agentv1.DeployRequest{App: "edge", Image: "edge:v1", DeployId: "d3", Spec: &agentv1.ContainerSpec{NetworkMode: "host"},
			Health: &agentv1.HealthCheck{Type: agentv1.HealthCheckType_HEALTH_CHECK_TYPE_NONE}}
	}
	wantCode(t, "a mount without --allow-mount-prefix", runDeploy(t, c, todo()).err, codes.PermissionDenied, "--allow-mount-prefix (now: none)")
	wantCode(t, "host network without --allow-host-network", runDeploy(t, c, edge()).err, codes.PermissionDenied, "--allow-host-network")

	svc.Policy = policy.Policy{MountPrefixes: []string{prefix}, HostNetwork: true}
	first := runDeploy(t, c, todo())
	checkResult(t, first, "d1", agentv1.DeployKind_DEPLOY_KIND_DEPLOY, agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED, "v1", "")
	if s := runDeploy(t, c, edge()); s.err != nil || s.result.GetOutcome() != agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED {
		t.Errorf("host networking with --allow-host-network: %v %v", s.err, s.result)
	}

	app, err := c.GetApp(context.Background(), &agentv1.GetAppRequest{App: "todo"})
	if err != nil {
		t.Fatal(err)
	}
	side := func(network string) *agentv1.DeployRequest {
		return &agentv1.DeployRequest{App: "sidecar", Image: "sidecar:v1", Spec: &agentv1.ContainerSpec{NetworkMode: network},
			Health: &agentv1.HealthCheck{Type: agentv1.HealthCheckType_HEALTH_CHECK_TYPE_NONE}}
	}
	wantCode(t, "a sidecar on a container that is not this node's", runDeploy(t, c, side("container:todo")).err, codes.PermissionDenied,
		"todo is not a container of an app on node node1")
	if s := runDeploy(t, c, side("container:"+app.GetApp().GetContainerName())); s.err != nil || s.result.GetOutcome() != agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED {
		t.Errorf("a sidecar on todo's network: %v %v", s.err, s.result)
	}
}

func TestDeploy_HostPolicyNeverMountsTheAgentsEngineSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "docker.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rt := newFakeRuntime("todo:v1")
	svc := policyService(t, rt, policy.Policy{MountPrefixes: []string{dir}})
	svc.Engine = socketEngine{socket: sock}
	c := serve(t, svc)
	s := runDeploy(t, c, withMount(deployReq("d1", "todo:v1"), sock))
	wantCode(t, "the agent's engine socket", s.err, codes.PermissionDenied, "the Docker Engine socket "+sock+" is never mounted")
	s = runDeploy(t, c, withMount(deployReq("d1", "todo:v1"), dir))
	wantCode(t, "the socket's directory", s.err, codes.PermissionDenied, "it contains the Docker Engine socket "+sock)
	wantNothingDone(t, svc, rt, s)
}

func TestDeploy_ContainerNetworkWithTheEngineDownIsUnavailable(t *testing.T) {
	rt := newFakeRuntime("todo:v1")
	svc := policyService(t, rt, policy.Policy{})
	rt.down = true
	r := deployReq("d1", "todo:v1")
	r.Spec.NetworkMode = "container:node1-todo-0a1b2c3d"
	s := runDeploy(t, serve(t, svc), r)
	wantCode(t, "container network, engine down", s.err, codes.Unavailable, "cannot check network_mode container:node1-todo-0a1b2c3d against this node's containers")
}
