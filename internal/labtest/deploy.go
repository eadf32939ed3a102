package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/labfleet/labfleet/internal/agentclient"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Labels the deploy engine puts on the containers it creates (the same
// values as agent/deploy's, repeated so tests read containers the way an
// operator would, through the Docker API, without importing the engine).
const (
	NodeLabel = "labfleet.node"
	AppLabel  = "labfleet.app"
)

// DeployTimeout bounds one Deploy or Rollback call in tests.
const DeployTimeout = 2 * time.Minute

// NodeName returns a node name no other test (or test process) uses, e.g.
// "n-crash-1a2b3c4d", and force-removes every container labelled with it
// when the test ends. Register it before starting the agents that use it,
// so the agents are stopped first and cannot recreate anything.
func NodeName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	node := "n-" + prefix + "-" + hex.EncodeToString(b)
	cli := Docker(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", NodeLabel+"="+node))})
		if err != nil {
			t.Errorf("cannot list the containers of node %s to remove them: %v", node, err)
			return
		}
		for _, c := range cs {
			if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !strings.Contains(err.Error(), "No such container") {
				t.Errorf("cannot remove container %s of node %s: %v", c.ID[:12], node, err)
			}
		}
	})
	return node
}

// VersionImage makes an image that only this test uses: base (a
// BuildImage reference) with VERSION set to version, tagged
// ImageRepo:<version>-<random>. Committing is much faster than a build.
// The image is removed when the test ends unless a deploy engine pruned it
// already; call it before NodeName, so the node's containers, which use
// the image, are removed first.
func VersionImage(t testing.TB, base, version string) string {
	t.Helper()
	if !versionRE.MatchString(version) {
		t.Fatalf("labtest.VersionImage: version %q is not usable in an image tag", version)
	}
	cli := Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: base, Labels: map[string]string{TestLabel: "1"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("labtest.VersionImage: create a container from %s: %v", base, err)
	}
	defer cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ref := fmt.Sprintf("%s:%s-%s", ImageRepo, version, hex.EncodeToString(b))
	if _, err := cli.ContainerCommit(ctx, c.ID, container.CommitOptions{Reference: ref, Changes: []string{"ENV VERSION=" + version}}); err != nil {
		t.Fatalf("labtest.VersionImage: commit %s: %v", ref, err)
	}
	t.Cleanup(func() {
		_, err := cli.ImageRemove(context.Background(), ref, image.RemoveOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cannot remove test image %s: %v", ref, err)
		}
	})
	return ref
}

// Host returns the IP part of an agent's address; containers publish their
// ports there (labagent's --publish-ip defaults to its listen IP).
func (a *Agent) Host() string {
	h, _, _ := net.SplitHostPort(a.Addr)
	return h
}

// Client dials the agent (which must run in Insecure mode) with
// internal/agentclient, the way labcontroller does; closed at test end.
func (a *Agent) Client(t testing.TB) agentv1.AgentServiceClient {
	t.Helper()
	conn, err := agentclient.Dial(agentclient.Options{Addr: a.Addr, Insecure: true})
	if err != nil {
		t.Fatalf("dial agent %s: %v", a.Addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.Agent
}

// DeployRun is what one Deploy or Rollback stream delivered.
type DeployRun struct {
	Events []*agentv1.DeployEvent
	// Result is the stream's final message; nil when Err is set.
	Result *agentv1.DeployResult
	// Err is the RPC's error (a gRPC status), or a protocol violation such
	// as a stream that ended without a result.
	Err error
}

// Messages returns every event message and the result message, so a test
// can check them all at once (e.g. that no secret appears).
func (r DeployRun) Messages() []string {
	var out []string
	for _, e := range r.Events {
		out = append(out, e.GetMessage())
	}
	if r.Result != nil {
		out = append(out, r.Result.GetMessage())
		out = append(out, r.Result.GetLogTail()...)
	}
	return out
}

// String summarises the run for failure messages.
func (r DeployRun) String() string {
	var b strings.Builder
	for _, e := range r.Events {
		fmt.Fprintf(&b, "  event %s: %s\n", e.GetPhase(), e.GetMessage())
	}
	if r.Err != nil {
		fmt.Fprintf(&b, "  error: %v\n", r.Err)
	}
	if res := r.Result; res != nil {
		fmt.Fprintf(&b, "  result %s (failed phase %s, version %s, replayed %v): %s\n", res.GetOutcome(), res.GetFailedPhase(),
			res.GetVersion(), res.GetReplayed(), res.GetMessage())
		for _, l := range res.GetLogTail() {
			fmt.Fprintf(&b, "  log: %s\n", l)
		}
	}
	return b.String()
}

// AppPort is the port the test app listens on in its container.
const AppPort = 8000

// WebDeploy asks for app to run image (a test image) as version, with
// AppPort published on hostPort (0: the engine picks) and gated on
// GET /healthz within healthTimeout.
func WebDeploy(app, image, version, id string, hostPort uint32, healthTimeout time.Duration) *agentv1.DeployRequest {
	return &agentv1.DeployRequest{
		App: app, Image: image, Version: version, DeployId: id,
		Spec:   &agentv1.ContainerSpec{Ports: []*agentv1.PortMapping{{HostPort: hostPort, ContainerPort: AppPort}}},
		Health: &agentv1.HealthCheck{HttpPath: "/healthz", Timeout: durationpb.New(healthTimeout)},
	}
}

// VersionAt returns what the test app answers on /version at the agent's
// publish IP and port right now, or why it does not answer.
func (a *Agent) VersionAt(port uint32) string {
	code, body, err := HTTPGet(fmt.Sprintf("http://%s:%d/version", a.Host(), port))
	switch {
	case err != nil:
		return "error: " + err.Error()
	case code != http.StatusOK:
		return fmt.Sprintf("HTTP %d: %s", code, body)
	}
	return body
}

// WantServing fails the test unless the app answers want on /version now.
// It does not wait: the engine reports success only after its gate passed
// on that same port.
func WantServing(t testing.TB, a *Agent, port uint32, want string) {
	t.Helper()
	if got := a.VersionAt(port); got != want {
		t.Fatalf("GET /version on %s:%d: want %q, got %q", a.Host(), port, want, got)
	}
}

// WantOneRunning fails the test unless exactly one container of node's app
// runs and, when id is not empty, that it is id. It returns the running ID.
func WantOneRunning(t testing.TB, cli *client.Client, node, app, id string) string {
	t.Helper()
	running := RunningContainers(t, cli, node, app)
	if len(running) != 1 || (id != "" && running[0] != id) {
		t.Fatalf("%s on %s: want exactly one running container %s, got %v (states %v)", app, node, id, running,
			ContainerStates(t, cli, node, app))
	}
	return running[0]
}

// History returns the agent's recorded deploys of app ("" for all), newest first.
func History(t testing.TB, c agentv1.AgentServiceClient, app string) []*agentv1.DeployResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := c.GetHistory(ctx, &agentv1.GetHistoryRequest{App: app})
	if err != nil {
		t.Fatalf("GetHistory(%q): %v", app, err)
	}
	return h.GetEntries()
}

// HistoryIDs summarises history entries as "deploy-id:OUTCOME", in order.
func HistoryIDs(h []*agentv1.DeployResult) []string {
	var ids []string
	for _, r := range h {
		ids = append(ids, fmt.Sprintf("%s:%s", r.GetDeployId(), r.GetOutcome()))
	}
	return ids
}

// GetApp returns the agent's view of app.
func GetApp(t testing.TB, c agentv1.AgentServiceClient, app string) *agentv1.App {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.GetApp(ctx, &agentv1.GetAppRequest{App: app})
	if err != nil {
		t.Fatalf("GetApp(%q): %v", app, err)
	}
	return r.GetApp()
}

// streamOf is what the Deploy and Rollback streams have in common.
type streamOf[M any] interface {
	Recv() (M, error)
}

type deployMsg interface {
	GetEvent() *agentv1.DeployEvent
	GetResult() *agentv1.DeployResult
}

func collect[M deployMsg](s streamOf[M], onEvent func(*agentv1.DeployEvent)) DeployRun {
	var run DeployRun
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			if run.Result == nil {
				run.Err = errors.New("the stream ended without a result")
			}
			return run
		}
		if err != nil {
			run.Err = err
			return run
		}
		if run.Result != nil {
			run.Err = errors.New("the stream sent a message after its result")
			return run
		}
		if ev := m.GetEvent(); ev != nil {
			run.Events = append(run.Events, ev)
			if onEvent != nil {
				onEvent(ev)
			}
		}
		if res := m.GetResult(); res != nil {
			run.Result = res
		}
	}
}

// StreamDeploy runs one Deploy to its end, calling onEvent (if not nil) for
// each event as it arrives. It does not need a *testing.T, so it can run in
// a goroutine.
func StreamDeploy(ctx context.Context, c agentv1.AgentServiceClient, req *agentv1.DeployRequest, onEvent func(*agentv1.DeployEvent)) DeployRun {
	s, err := c.Deploy(ctx, req)
	if err != nil {
		return DeployRun{Err: err}
	}
	return collect(s, onEvent)
}

// StreamRollback is StreamDeploy for Rollback.
func StreamRollback(ctx context.Context, c agentv1.AgentServiceClient, req *agentv1.RollbackRequest, onEvent func(*agentv1.DeployEvent)) DeployRun {
	s, err := c.Rollback(ctx, req)
	if err != nil {
		return DeployRun{Err: err}
	}
	return collect(s, onEvent)
}

// Deploy runs one Deploy within DeployTimeout.
func Deploy(t testing.TB, c agentv1.AgentServiceClient, req *agentv1.DeployRequest) DeployRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DeployTimeout)
	defer cancel()
	return StreamDeploy(ctx, c, req, nil)
}

// Rollback runs one Rollback within DeployTimeout.
func Rollback(t testing.TB, c agentv1.AgentServiceClient, req *agentv1.RollbackRequest) DeployRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DeployTimeout)
	defer cancel()
	return StreamRollback(ctx, c, req, nil)
}

// MustSucceed fails the test unless the run ended with outcome SUCCEEDED,
// and returns its result.
func (r DeployRun) MustSucceed(t testing.TB, what string) *agentv1.DeployResult {
	t.Helper()
	if r.Err != nil || r.Result.GetOutcome() != agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED {
		t.Fatalf("%s: want SUCCEEDED, got:\n%s", what, r)
	}
	return r.Result
}

// WantCode fails the test unless err is a gRPC status with code whose
// message contains every one of subs.
func WantCode(t testing.TB, what string, err error, code codes.Code, subs ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if err == nil || st.Code() != code {
		t.Fatalf("%s: want %s, got %v", what, code, err)
	}
	for _, s := range subs {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("%s: the %s message does not mention %q: %s", what, code, s, st.Message())
		}
	}
}

// WantPhases marks the test failed unless the run's events show each of
// want, in that order (other events may come between).
func (r DeployRun) WantPhases(t testing.TB, what string, want ...agentv1.DeployPhase) {
	t.Helper()
	i := 0
	for _, e := range r.Events {
		if i < len(want) && e.GetPhase() == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("%s: events lack phase %s (in order %v):\n%s", what, want[i], want, r)
	}
}

// AppContainers lists node's containers of app in every state, as the
// Docker Engine reports them.
func AppContainers(t testing.TB, cli *client.Client, node, app string) []container.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", NodeLabel+"="+node), filters.Arg("label", AppLabel+"="+app))})
	if err != nil {
		t.Fatalf("list containers of %s on %s: %v", app, node, err)
	}
	return cs
}

// ContainerStates counts node's containers of app by Docker state
// ("running", "exited", "created", ...).
func ContainerStates(t testing.TB, cli *client.Client, node, app string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, c := range AppContainers(t, cli, node, app) {
		out[string(c.State)]++
	}
	return out
}

// RunningContainers returns the IDs of node's running containers of app.
func RunningContainers(t testing.TB, cli *client.Client, node, app string) []string {
	t.Helper()
	var ids []string
	for _, c := range AppContainers(t, cli, node, app) {
		if c.State == container.StateRunning {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Inspect returns the engine's view of one container.
func Inspect(t testing.TB, cli *client.Client, id string) container.InspectResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ci, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatalf("inspect container %s: %v", id, err)
	}
	return ci
}

// noKeepAlive makes every request a new connection, so a request never
// rides on a connection to a container that has since been replaced.
var noKeepAlive = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// HTTPGet does one GET of url (5 s timeout) and returns status and body.
func HTTPGet(url string) (int, string, error) {
	resp, err := noKeepAlive.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Poll calls cond every 250 ms until it returns "" (the wanted state) or
// timeout passes, and returns the last reason cond gave ("" on success).
func Poll(timeout time.Duration, cond func() string) string {
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" || time.Now().After(deadline) {
			return why
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Eventually is Poll that fails the test when the wanted state does not
// come within timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	if why := Poll(timeout, cond); why != "" {
		t.Fatalf("%s: not so within %s: %s", what, timeout, why)
	}
}

// DeployIntoHealthGate starts req in the background and returns once the
// deploy is in its health gate (failing the test if it ends before), with
// the channel its outcome arrives on. Tests use it to act while a deploy is
// known to be in flight: a second deploy, an engine outage.
func DeployIntoHealthGate(t testing.TB, c agentv1.AgentServiceClient, req *agentv1.DeployRequest) <-chan DeployRun {
	t.Helper()
	inGate := make(chan struct{})
	done := make(chan DeployRun, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), DeployTimeout)
		defer cancel()
		var once bool
		done <- StreamDeploy(ctx, c, req, func(e *agentv1.DeployEvent) {
			if e.GetPhase() == agentv1.DeployPhase_DEPLOY_PHASE_HEALTH && !once {
				once = true
				close(inGate)
			}
		})
	}()
	select {
	case <-inGate:
	case run := <-done:
		t.Fatalf("the deploy ended before its health gate:\n%s", run)
	}
	return done
}
