package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/controller/rollout"
	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/deployid"
	"github.com/labfleet/labfleet/internal/deployreq"
	"github.com/labfleet/labfleet/internal/fleet"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newDeployCmd(g *globals) *cobra.Command {
	f := &deployFlags{}
	rf := &rollFlags{}
	cmd := &cobra.Command{
		Use:   "deploy --app NAME --image REF [flags] [-- COMMAND ARGS...]",
		Short: "Roll an image across the nodes, batch by batch, behind HAProxy and each agent's health gate",
		Long: `deploy asks each selected node's agent to run --image as --app: pull, create the new
container, stop the old one, start the new one and wait until it is healthy. When the
new container does not become healthy the agent removes it and starts the old one again.

Nodes change --batch at a time (default 1). With --haproxy, each batch is first set to
drain in the --haproxy-backend and given --drain-timeout for its sessions to end; after
the deploy the rollout waits until HAProxy's health checks see the server up, sets it
ready, and pauses --wait before the next batch. It never drains a batch while no other
server is up, so users always have a node to talk to.

The first failure stops the rollout, so a bad image never reaches the next batch; the
nodes already changed are rolled back unless --no-auto-revert. A fleet lock lets one
deploy of an app run at a time (--lock-wait to queue instead of failing). --dry-run
prints the plan and changes nothing.

Exit codes: 0 every node succeeded (or was already up to date), 1 a deploy failed (the
summary says which node runs which version), 2 usage. Under GitHub Actions
(GITHUB_ACTIONS=true) nodes are log groups, failures ::error:: annotations, secrets are
masked, a summary table goes to $GITHUB_STEP_SUMMARY and version, result and deploy-id
to $GITHUB_OUTPUT.

Secret values (--secret-env, registry passwords) are read from files or the environment,
never from the command line, and never printed.

A node whose agent sends nothing for --idle-timeout (default 2m; the health gate's own
length, which the agent announces, is allowed on top) is given up as possibly hung: the
rollout stops there with exit 1 naming the node. With -o json the progress lines go to
stderr and stdout holds only the JSON summary.`,
		Example: `  labcontroller -i inventory.ini deploy --app todo --image registry.example:5000/todo:v2 \
    --port 8000:8000 --env DB_HOST=127.0.0.1 --secret-env DB_PASSWORD=@/etc/labfleet/db.pass \
    --health-path /healthz --haproxy /run/haproxy/admin.sock --haproxy-backend app
  labcontroller -i inventory.ini deploy --app todo --image todo:v2 --dry-run
  labcontroller -i inventory.ini --limit node1 deploy --app todo --image todo:v2 --pull never`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
				return fmt.Errorf("unexpected argument %q: the container's command goes after --", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			req, secrets, err := f.request(args)
			if err != nil {
				return err
			}
			if err := rf.check(); err != nil {
				return err
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			if req.DeployId == "" {
				req.DeployId = deployid.New("", time.Now())
			}
			lb, err := newBalancer(g)
			if err != nil {
				return err
			}
			if rf.dryRun {
				return dryRun(cmd, g, nodes, lb, req, secrets)
			}
			release, err := rf.lock(cmd.Context(), req.GetApp(), req.GetDeployId(), "deploy "+req.GetImage())
			if err != nil {
				return err
			}
			defer release()
			return roll(cmd, g, rf, nodes, lb, req.GetApp(), req.GetVersion(), req.GetDeployId(), secrets, true,
				func(ctx context.Context, c *agentclient.Conn) (func() (deployreq.Message, error), error) {
					s, err := c.Agent.Deploy(ctx, req)
					return deployreq.Recv(s), err
				})
		},
	}
	f.bind(cmd.Flags())
	rf.bind(cmd.Flags())
	return cmd
}

// roll runs a rollout of start (a Deploy or Rollback call) and prints it.
// With -o json the progress goes to stderr, so that stdout is the JSON
// summary alone.
func roll(cmd *cobra.Command, g *globals, rf *rollFlags, nodes []fleet.Node, lb *balancer, app, version, deployID string,
	secrets []string, autoRevert bool, start startFunc) error {
	out := cmd.OutOrStdout()
	progress := out
	if g.output == "json" {
		progress = cmd.ErrOrStderr()
	}
	rep := newReporter(progress, rf.batch, secrets)
	ag := &fleetAgents{nodes: map[string]fleet.Node{}, rep: rep, start: start, deployID: deployID, app: app,
		idle: deployreq.Idle{Timeout: rf.idleTimeout}}
	for _, n := range nodes {
		ag.nodes[n.Name] = n
	}
	plan := rf.plan(nodes)
	plan.AutoRevert = plan.AutoRevert && autoRevert
	var bal rollout.Balancer
	if lb != nil {
		bal = lb
	}
	s := rollout.Run(cmd.Context(), plan, ag, bal, rep)
	if version == "" && s.Failed == nil {
		for _, o := range s.Nodes {
			if v := o.Result.GetVersion(); v != "" {
				version = v
			}
		}
	}
	printRollout(&masker{w: out, secrets: secrets}, g.output, app, s)
	if rep.gha {
		if err := ghaFinish(app, version, deployID, s); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "labcontroller: %v\n", err)
		}
	}
	switch {
	case s.Preflight != nil:
		return failed{msg: mask("nothing was changed: "+esc(s.Preflight.Error()), secrets)}
	case s.Failed != nil:
		var runs []string
		for _, o := range s.Nodes {
			runs = append(runs, fmt.Sprintf("%s runs %s", o.Node.Name, esc(orDash(o.Running()))))
		}
		why := ""
		if err := s.Failed.Err; err != nil {
			why = ": " + esc(err.Error())
		}
		return failed{msg: mask(fmt.Sprintf("%s failed on %s%s; %s", app, s.Failed.Node.Name, why, strings.Join(runs, ", ")), secrets)}
	}
	return nil
}

// startFunc opens a Deploy or Rollback stream on c.
type startFunc func(ctx context.Context, c *agentclient.Conn) (func() (deployreq.Message, error), error)

// fleetAgents runs the rollout's calls on the agents.
type fleetAgents struct {
	nodes    map[string]fleet.Node
	rep      *reporter
	start    startFunc
	deployID string
	app      string
	idle     deployreq.Idle
}

func (a *fleetAgents) Apply(ctx context.Context, n rollout.Node) (*agentv1.DeployResult, error) {
	return a.stream(ctx, n, a.start)
}

func (a *fleetAgents) Revert(ctx context.Context, n rollout.Node, version string) (*agentv1.DeployResult, error) {
	req := &agentv1.RollbackRequest{App: a.app, Version: version, DeployId: a.deployID + "-revert"}
	return a.stream(ctx, n, func(ctx context.Context, c *agentclient.Conn) (func() (deployreq.Message, error), error) {
		s, err := c.Agent.Rollback(ctx, req)
		return deployreq.Recv(s), err
	})
}

// stream runs one Deploy or Rollback call on node n and reads it to its
// result, giving up when the agent falls silent (deployreq.ReadWithin).
func (a *fleetAgents) stream(ctx context.Context, n rollout.Node, start startFunc) (*agentv1.DeployResult, error) {
	node := a.nodes[n.Name]
	c, err := agentclient.Dial(node.Conn)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := deployreq.ReadWithin(ctx, a.idle, func(ctx context.Context) (func() (deployreq.Message, error), error) {
		return start(ctx, c)
	}, func(ev *agentv1.DeployEvent) { a.rep.Event(n.Name, ev) })
	switch {
	case errors.Is(err, deployreq.ErrIdle):
		return nil, fmt.Errorf("%s %w; it may be hung: check labagent on %s (%s); what it did is in its history", n.Name, err, n.Name, node.Addr())
	case errors.Is(err, deployreq.ErrNoResult):
		return nil, fmt.Errorf("agent at %s: %w", node.Addr(), err)
	}
	return res, c.Explain(err)
}

type nodeJSON struct {
	Node     string                `json:"node"`
	Result   string                `json:"result"`
	Running  string                `json:"running,omitempty"`
	Deploy   *deployreq.ResultView `json:"deploy,omitempty"`
	Revert   *deployreq.ResultView `json:"revert,omitempty"`
	Error    string                `json:"error,omitempty"`
	TookSecs float64               `json:"took_seconds"`
}

func printRollout(out io.Writer, format, app string, s *rollout.Summary) {
	if format == "json" {
		rows := []nodeJSON{}
		for _, o := range s.Nodes {
			r := nodeJSON{Node: o.Node.Name, Result: nodeResultText(o), Running: o.Running(), Deploy: deployreq.View(o.Result),
				Revert: deployreq.View(o.Reverted), TookSecs: o.Took.Seconds()}
			switch {
			case o.Err != nil:
				r.Error = o.Err.Error()
			case o.RevertErr != nil:
				r.Error = "revert failed: " + o.RevertErr.Error()
			case s.Preflight != nil:
				r.Result, r.Error = "not touched", "nothing was changed: "+s.Preflight.Error()
			}
			rows = append(rows, r)
		}
		writeJSON(out, rows)
		return
	}
	if s.Preflight != nil {
		fmt.Fprintf(out, "%s: nothing changed: %s\n", app, esc(s.Preflight.Error()))
		return
	}
	fmt.Fprintf(out, "\n%s: %s\n", app, s.Took.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRESULT\tRUNNING\tPREVIOUS\tDEPLOY ID\tTOOK")
	for _, o := range s.Nodes {
		if o.Skipped {
			fmt.Fprintf(tw, "%s\tnot touched\t-\t-\t-\t-\n", o.Node.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Node.Name, nodeResultText(o), esc(orDash(o.Running())),
			esc(orDash(o.Result.GetPreviousVersion())), esc(orDash(o.Result.GetDeployId())), o.Took.Round(100*time.Millisecond))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// masker replaces secret values in everything written through it: the
// agent never echoes them, and this makes sure a mistake there cannot leak.
type masker struct {
	w       io.Writer
	secrets []string
}

func (m *masker) Write(p []byte) (int, error) {
	if _, err := io.WriteString(m.w, mask(string(p), m.secrets)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// mask replaces each secret of four characters or more in s with ***, as
// it is and as esc would print it.
func mask(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
			if e := esc(sec); e != sec {
				s = strings.ReplaceAll(s, e, "***")
			}
		}
	}
	return s
}
