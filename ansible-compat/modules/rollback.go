package modules

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/labfleet/labfleet/internal/deployid"
	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func init() {
	register(&Module{
		Name: "labfleet_rollback",
		Options: withConn(
			Option{Name: "app", Kind: Str, Required: true},
			Option{Name: "version", Kind: Str},
			Option{Name: "deploy_id", Kind: Str},
			Option{Name: "health_path", Kind: Str},
			Option{Name: "health_port", Kind: Int},
			Option{Name: "health_timeout", Kind: Seconds},
		),
		Run: runRollback,
	})
}

// runRollback starts a retained earlier version of the app again. With a
// version given it is idempotent: that version already running is
// changed: false. Without one it always goes back one version, like
// `labcontroller rollback`.
func runRollback(ctx context.Context, p *Params) *Result {
	app, version := p.Str("app"), p.Str("version")
	req := &agentv1.RollbackRequest{App: app, Version: version, DeployId: p.Str("deploy_id")}
	if p.Has("health_path") || p.Has("health_port") || p.Has("health_timeout") {
		req.Health = &agentv1.HealthCheck{HttpPath: p.Str("health_path"), HttpPort: uint32(p.Int("health_port"))}
		if p.Has("health_timeout") {
			req.Health.Timeout = durationpb.New(p.Duration("health_timeout"))
		}
	}
	if err := req.Validate(); err != nil {
		return Fail(err.Error())
	}
	c, addr, fail := dial(p)
	if fail != nil {
		return fail
	}
	defer c.Close()

	cur, err := currentApp(ctx, p, c, app)
	if err != nil {
		return Fail(explain(addr, err))
	}
	if cur == nil {
		return Fail(fmt.Sprintf("no app %s on this node: nothing to roll back", app))
	}
	running := cur.GetState() == "running"
	if version != "" && running && cur.GetVersion() == version {
		return OK(false, fmt.Sprintf("%s already runs version %s; nothing changed", app, version)).
			Set("app", app).Set("version", version).Set("running_version", version).Set("outcome", "unchanged")
	}
	if p.CheckMode {
		return checkRollback(cur, version)
	}
	if req.DeployId == "" {
		req.DeployId = deployid.New("ansible", time.Now())
	}
	return runStream(ctx, p, addr, cur, func(ctx context.Context) (func() (deployreq.Message, error), error) {
		s, err := c.Agent.Rollback(ctx, req)
		return deployreq.Recv(s), err
	})
}

// checkRollback says which retained version a rollback would start, the
// way the agent picks it: the requested one, else the newest retained
// version that is not the running one.
func checkRollback(cur *agentv1.App, version string) *Result {
	retained := cur.GetRetainedVersions()
	target := ""
	for _, v := range retained {
		if (version != "" && v == version) || (version == "" && v != cur.GetVersion()) {
			target = v
			break
		}
	}
	if target == "" {
		what := "an earlier version"
		if version != "" {
			what = "version " + version
		}
		list := "none"
		if len(retained) > 0 {
			list = strings.Join(retained, ", ")
		}
		return Fail(fmt.Sprintf("%s of %s is not retained on this node (retained: %s)", what, cur.GetName(), list))
	}
	return OK(true, fmt.Sprintf("would roll %s back from version %s to version %s", cur.GetName(), cur.GetVersion(), target)).
		Set("app", cur.GetName()).Set("version", target).Set("previous_version", cur.GetVersion()).Set("outcome", "check_mode")
}
