package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/labfleet/labfleet/controller/cli"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// fakeAgent is a labagent in memory that runs one app, todo, and answers
// the RPCs labcontroller's commands call. Deploys and rollbacks stream the
// phases a real agent does and change the version it reports.
type fakeAgent struct {
	agentv1.UnimplementedAgentServiceServer
	name string
	// fail makes deploys fail their health gate and put the old version back.
	fail bool
	// echo is text a buggy agent repeats in its messages (a secret, in
	// the tests that check labcontroller masks it).
	echo string
	// hangAfter makes deploys and rollbacks go silent after their first
	// event of this phase, as a hung agent would, until the caller leaves.
	hangAfter agentv1.DeployPhase
	// gateDelay is how long the health gate takes; it is announced as
	// "waiting up to" twice that, as the real agent announces its timeout.
	gateDelay time.Duration
	repl      *agentv1.GetReplicationStatusResponse

	mu                sync.Mutex
	running, previous string
	history           []*agentv1.DeployResult
	deploys           []*agentv1.DeployRequest
	rollbacks         []*agentv1.RollbackRequest
}

func digest(version string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(version))) }

func (f *fakeAgent) GetInfo(context.Context, *agentv1.GetInfoRequest) (*agentv1.GetInfoResponse, error) {
	return &agentv1.GetInfoResponse{AgentVersion: "0.9.0-test", NodeName: f.name, Uptime: durationpb.New(90 * time.Second),
		Docker: &agentv1.DockerInfo{Reachable: true, Version: "28.5.2", ApiVersion: "1.51"}, Capabilities: []string{"info", "deploy"}}, nil
}

func (f *fakeAgent) app() *agentv1.App {
	return &agentv1.App{Name: "todo", Node: f.name, Version: f.running, ImageDigest: digest(f.running), State: "running",
		Health: agentv1.AppHealth_APP_HEALTH_HEALTHY, StartedAt: timestamppb.New(time.Now().Add(-time.Hour)), RetainedVersions: []string{f.previous}}
}

func (f *fakeAgent) ListApps(context.Context, *agentv1.ListAppsRequest) (*agentv1.ListAppsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running == "" {
		return &agentv1.ListAppsResponse{}, nil
	}
	return &agentv1.ListAppsResponse{Apps: []*agentv1.App{f.app()}}, nil
}

func (f *fakeAgent) GetHistory(context.Context, *agentv1.GetHistoryRequest) (*agentv1.GetHistoryResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &agentv1.GetHistoryResponse{Entries: f.history}, nil
}

func (f *fakeAgent) GetReplicationStatus(context.Context, *agentv1.GetReplicationStatusRequest) (*agentv1.GetReplicationStatusResponse, error) {
	return f.repl, nil
}

type sender func(phase agentv1.DeployPhase, msg string)

// finish records a result, updates what runs and returns the result.
func (f *fakeAgent) finish(r *agentv1.DeployResult) *agentv1.DeployResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.App, r.Caller, r.PreviousVersion = "todo", "cert:labcontroller", f.running
	r.FinishedAt, r.Duration = timestamppb.Now(), durationpb.New(1200*time.Millisecond)
	if r.GetOutcome() == agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED {
		f.previous, f.running = f.running, r.GetVersion()
	}
	f.history = append([]*agentv1.DeployResult{r}, f.history...)
	return r
}

func (f *fakeAgent) run(send sender, id, version string, kind agentv1.DeployKind) *agentv1.DeployResult {
	send(agentv1.DeployPhase_DEPLOY_PHASE_LOCK, "locked todo on "+f.name+" for "+id)
	if kind == agentv1.DeployKind_DEPLOY_KIND_DEPLOY {
		send(agentv1.DeployPhase_DEPLOY_PHASE_PULL, "pulling todo:"+version+f.echo)
		send(agentv1.DeployPhase_DEPLOY_PHASE_CREATE, "creating container")
	}
	send(agentv1.DeployPhase_DEPLOY_PHASE_STOP_OLD, "stopping version "+f.running)
	send(agentv1.DeployPhase_DEPLOY_PHASE_START, "starting")
	if f.gateDelay > 0 {
		send(agentv1.DeployPhase_DEPLOY_PHASE_HEALTH, fmt.Sprintf("waiting up to %s for HTTP GET /healthz on port 8000", 2*f.gateDelay))
		time.Sleep(f.gateDelay)
	} else {
		send(agentv1.DeployPhase_DEPLOY_PHASE_HEALTH, "waiting up to 1m0s for no health check")
	}
	r := &agentv1.DeployResult{DeployId: id, Kind: kind, Version: version, Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED,
		Message: "todo is now version " + version + f.echo}
	if f.fail {
		send(agentv1.DeployPhase_DEPLOY_PHASE_REVERT, "starting version "+f.running+" again")
		r.Outcome, r.FailedPhase = agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED, agentv1.DeployPhase_DEPLOY_PHASE_HEALTH
		r.Message = "health failed: container exited with code 3; version " + f.running + " is serving again"
		r.LogTail = []string{"panic: cannot reach the database" + f.echo}
	}
	send(agentv1.DeployPhase_DEPLOY_PHASE_RECORD, r.Message)
	return f.finish(r)
}

func (f *fakeAgent) Deploy(req *agentv1.DeployRequest, s grpc.ServerStreamingServer[agentv1.DeployResponse]) error {
	f.mu.Lock()
	f.deploys = append(f.deploys, req)
	running := f.running
	f.mu.Unlock()
	version := req.GetVersion()
	if version == "" {
		version = req.GetImage()[strings.LastIndex(req.GetImage(), ":")+1:]
	}
	if req.GetDryRun() {
		r := &agentv1.DeployResult{DeployId: req.GetDeployId(), App: "todo", Version: version, PreviousVersion: running,
			Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_WOULD_CHANGE, Message: "would replace version " + running + " by " + version + f.echo}
		if running == version {
			r.Outcome, r.Message = agentv1.DeployOutcome_DEPLOY_OUTCOME_UNCHANGED, "already runs as version "+version
		}
		return s.Send(&agentv1.DeployResponse{Kind: &agentv1.DeployResponse_Result{Result: r}})
	}
	r := f.run(func(p agentv1.DeployPhase, msg string) {
		s.Send(&agentv1.DeployResponse{Kind: &agentv1.DeployResponse_Event{Event: &agentv1.DeployEvent{Time: timestamppb.Now(), Phase: p, Message: msg}}})
		f.maybeHang(s.Context(), p)
	}, req.GetDeployId(), version, agentv1.DeployKind_DEPLOY_KIND_DEPLOY)
	return s.Send(&agentv1.DeployResponse{Kind: &agentv1.DeployResponse_Result{Result: r}})
}

func (f *fakeAgent) Rollback(req *agentv1.RollbackRequest, s grpc.ServerStreamingServer[agentv1.RollbackResponse]) error {
	f.mu.Lock()
	f.rollbacks = append(f.rollbacks, req)
	version := req.GetVersion()
	if version == "" {
		version = f.previous
	}
	f.mu.Unlock()
	r := f.run(func(p agentv1.DeployPhase, msg string) {
		s.Send(&agentv1.RollbackResponse{Kind: &agentv1.RollbackResponse_Event{Event: &agentv1.DeployEvent{Time: timestamppb.Now(), Phase: p, Message: msg}}})
		f.maybeHang(s.Context(), p)
	}, req.GetDeployId(), version, agentv1.DeployKind_DEPLOY_KIND_ROLLBACK)
	return s.Send(&agentv1.RollbackResponse{Kind: &agentv1.RollbackResponse_Result{Result: r}})
}

// maybeHang blocks until ctx ends when p is the phase to hang after.
func (f *fakeAgent) maybeHang(ctx context.Context, p agentv1.DeployPhase) {
	if f.hangAfter != agentv1.DeployPhase_DEPLOY_PHASE_UNSPECIFIED && p == f.hangAfter {
		<-ctx.Done()
	}
}

// calls returns copies of the requests the agent received.
func (f *fakeAgent) calls() ([]*agentv1.DeployRequest, []*agentv1.RollbackRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*agentv1.DeployRequest(nil), f.deploys...), append([]*agentv1.RollbackRequest(nil), f.rollbacks...)
}

// serve runs f on a loopback port until the test ends and returns HOST:PORT.
func serve(t *testing.T, f *fakeAgent) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	agentv1.RegisterAgentServiceServer(s, f)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// fleet serves every agent and writes an INI inventory whose nodes group
// reaches them in plaintext on loopback; it returns the inventory's path.
func fleet(t *testing.T, agents ...*fakeAgent) string {
	t.Helper()
	addrs := map[string]string{}
	var names []string
	for _, a := range agents {
		addrs[a.name] = serve(t, a)
		names = append(names, a.name)
	}
	return inventory(t, names, addrs)
}

// inventory writes the nodes in order, each at its HOST:PORT.
func inventory(t *testing.T, names []string, addrs map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[nodes]\n")
	for _, n := range names {
		host, port, _ := net.SplitHostPort(addrs[n])
		fmt.Fprintf(&b, "%s ansible_host=%s labagent_port=%s labagent_insecure=true\n", n, host, port)
	}
	p := filepath.Join(t.TempDir(), "inventory.ini")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs labcontroller with args in a clean environment (no LABFLEET_*
// settings, not under GitHub Actions, the fleet lock in a temporary
// directory) and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	for _, k := range []string{"LABFLEET_INVENTORY", "LABFLEET_CA", "LABFLEET_CERT", "LABFLEET_KEY", "LABFLEET_TOKEN_FILE",
		"LABFLEET_HAPROXY", "LABFLEET_HAPROXY_BACKEND", "LABFLEET_REGISTRY_PASSWORD", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"} {
		t.Setenv(k, "")
	}
	t.Setenv("LABFLEET_STATE_DIR", t.TempDir())
	var out, errb bytes.Buffer
	code = cli.Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// contains fails the test for each part s lacks.
func contains(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not contain %q:\n%s", what, p, s)
		}
	}
}

// line returns the first line of s whose first field is fields[0] and
// whose other fields include the rest, in order ("" when none does).
func line(s string, fields ...string) string {
	for _, l := range strings.Split(s, "\n") {
		got := strings.Fields(l)
		if len(got) == 0 || got[0] != fields[0] {
			continue
		}
		i := 1
		for _, g := range got[1:] {
			if i < len(fields) && g == fields[i] {
				i++
			}
		}
		if i == len(fields) {
			return l
		}
	}
	return ""
}

// hasLine fails the test when s has no line for fields (see line).
func hasLine(t *testing.T, what, s string, fields ...string) {
	t.Helper()
	if line(s, fields...) == "" {
		t.Errorf("%s has no line with %q:\n%s", what, fields, s)
	}
}
