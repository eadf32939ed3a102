package modules

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/deployid"
	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func init() {
	register(&Module{
		Name: "labfleet_deploy",
		Options: withConn(
			Option{Name: "app", Kind: Str, Required: true},
			Option{Name: "image", Kind: Str, Required: true},
			Option{Name: "version", Kind: Str},
			Option{Name: "deploy_id", Kind: Str},
			Option{Name: "ports", Kind: List},
			Option{Name: "env", Kind: Dict},
			Option{Name: "secret_env", Kind: Dict, Secret: true},
			Option{Name: "labels", Kind: Dict},
			Option{Name: "volumes", Kind: List},
			Option{Name: "command", Kind: List},
			Option{Name: "entrypoint", Kind: List},
			Option{Name: "network", Kind: Str},
			Option{Name: "restart", Kind: Str, Default: deployreq.DefaultRestart},
			Option{Name: "user", Kind: Str},
			Option{Name: "workdir", Kind: Str},
			Option{Name: "memory", Kind: Str},
			Option{Name: "cpus", Kind: Float},
			Option{Name: "stop_timeout", Kind: Seconds},
			Option{Name: "health", Kind: Str, Default: deployreq.DefaultHealth, Choices: []string{"auto", "http", "docker", "none"}},
			Option{Name: "health_path", Kind: Str},
			Option{Name: "health_port", Kind: Int},
			Option{Name: "health_timeout", Kind: Seconds, Default: deployreq.DefaultHealthTimeout},
			Option{Name: "health_interval", Kind: Seconds, Default: deployreq.DefaultHealthInterval},
			Option{Name: "pull", Kind: Str, Choices: []string{"always", "if_not_present", "if-not-present", "never"}},
			Option{Name: "strategy", Kind: Str, Default: "stop_first", Choices: []string{"stop_first", "stop-first", "start_first", "start-first"}},
			Option{Name: "registry", Kind: Str},
			Option{Name: "registry_user", Kind: Str},
			Option{Name: "registry_password", Kind: Str, Secret: true},
		),
		Run: runDeploy,
	})
}

// runDeploy makes the node run image as app. The agent decides whether
// anything changes: the same image with the same settings already running
// is UNCHANGED, which is changed: false. In check mode the agent answers a
// dry-run deploy (image and settings compared, nothing touched).
func runDeploy(ctx context.Context, p *Params) *Result {
	req, err := deployRequest(p)
	if err != nil {
		return Fail(err.Error())
	}
	c, addr, fail := dial(p)
	if fail != nil {
		return fail
	}
	defer c.Close()

	cur, err := currentApp(ctx, p, c, req.GetApp())
	if err != nil {
		return Fail(explain(addr, err))
	}
	if p.CheckMode {
		return checkDeploy(ctx, p, c, addr, req, cur)
	}
	if req.DeployId == "" {
		req.DeployId = deployid.New("ansible", time.Now())
	}
	return runStream(ctx, p, addr, cur, func(ctx context.Context) (func() (deployreq.Message, error), error) {
		s, err := c.Agent.Deploy(ctx, req)
		return deployreq.Recv(s), err
	})
}

// runStream runs a Deploy or Rollback stream that start opens and turns its
// result into the module's.
func runStream(ctx context.Context, p *Params, addr string, cur *agentv1.App, start func(ctx context.Context) (func() (deployreq.Message, error), error)) *Result {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	recv, err := start(ctx)
	if err != nil {
		return Fail(explain(addr, err))
	}
	events, res, err := collect(recv)
	if err != nil {
		return Fail(explain(addr, err)).Set("events", events)
	}
	r := fromDeployResult(res, events)
	if p.Diff && r.Changed {
		r.Diff = appDiff(cur, res.GetImage(), res.GetVersion())
	}
	return r
}

// currentApp returns the app's running container, or nil when the node
// has none.
func currentApp(ctx context.Context, p *Params, c *agentclient.Conn, app string) (*agentv1.App, error) {
	resp, err := call(ctx, p, func(ctx context.Context) (*agentv1.GetAppResponse, error) {
		return c.Agent.GetApp(ctx, &agentv1.GetAppRequest{App: app})
	})
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return resp.GetApp(), nil
}

// checkDeploy answers --check with the agent's dry run: it compares the
// image and every setting with what runs, and changes nothing.
func checkDeploy(ctx context.Context, p *Params, c *agentclient.Conn, addr string, req *agentv1.DeployRequest, cur *agentv1.App) *Result {
	dry := proto.Clone(req).(*agentv1.DeployRequest)
	dry.DryRun = true
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	s, err := c.Agent.Deploy(ctx, dry)
	if err != nil {
		return Fail(explain(addr, err))
	}
	_, res, err := collect(deployreq.Recv(s))
	if err != nil {
		return Fail(explain(addr, err))
	}
	var r *Result
	switch res.GetOutcome() {
	case agentv1.DeployOutcome_DEPLOY_OUTCOME_UNCHANGED:
		r = OK(false, res.GetMessage())
	case agentv1.DeployOutcome_DEPLOY_OUTCOME_WOULD_CHANGE:
		r = OK(true, res.GetMessage())
	default:
		return Fail(res.GetMessage())
	}
	r.Set("app", req.GetApp()).Set("image", req.GetImage()).Set("version", res.GetVersion()).Set("previous_version", cur.GetVersion()).
		Set("running_version", runningVersion(cur)).Set("outcome", "check_mode")
	if p.Diff && r.Changed {
		r.Diff = appDiff(cur, req.GetImage(), res.GetVersion())
	}
	return r
}

// runningVersion is the version the app serves now ("" when stopped).
func runningVersion(a *agentv1.App) string {
	if a.GetState() != "running" {
		return ""
	}
	return a.GetVersion()
}

// appDiff shows the image and version before and after, for --diff.
func appDiff(cur *agentv1.App, image, version string) *Diff {
	line := func(img, v string) string {
		if img == "" {
			return ""
		}
		return fmt.Sprintf("image: %s\nversion: %s\n", img, v)
	}
	return &Diff{Before: line(cur.GetImage(), cur.GetVersion()), After: line(image, version), BeforeHeader: "running", AfterHeader: "deployed"}
}
