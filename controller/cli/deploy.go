package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/labfleet/labfleet/controller/fleet"
	"github.com/labfleet/labfleet/internal/agentclient"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newDeployCmd(g *globals) *cobra.Command {
	f := &deployFlags{}
	cmd := &cobra.Command{
		Use:   "deploy --app NAME --image REF [flags] [-- COMMAND ARGS...]",
		Short: "Deploy an image to the nodes, one node at a time, behind each agent's health gate",
		Long: `deploy asks each selected node's agent to run --image as --app: pull, create the new
container, stop the old one, start the new one and wait until it is healthy. When the
new container does not become healthy the agent removes it and starts the old one again.

Nodes are deployed one after the other; the first failure stops the rollout, so a bad
image never reaches the next node. Exit codes: 0 every node succeeded (or was already
up to date), 1 a deploy failed (the cause and the container's last log lines are
printed), 2 usage.

Secret values (--secret-env, registry passwords) are read from files or the environment,
never from the command line, and never printed.`,
		Example: `  labcontroller -i inventory.ini deploy --app todo --image registry.example:5000/todo:v2 \
    --port 8000:8000 --env DB_HOST=127.0.0.1 --secret-env DB_PASSWORD=@/etc/labfleet/db.pass \
    --health-path /healthz --timeout 60s
  labcontroller -i inventory.ini --limit node1 deploy --app todo --image todo:v2 --pull never`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			req, secrets, err := f.request(args)
			if err != nil {
				return err
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			if req.DeployId == "" {
				req.DeployId = newDeployID()
			}
			return runDeploys(cmd, g, nodes, req.GetApp(), secrets, func(ctx context.Context, c *agentclient.Conn) (streamRecv, error) {
				return c.Agent.Deploy(ctx, req)
			})
		},
	}
	f.bind(cmd.Flags())
	return cmd
}

// streamRecv is what Deploy and Rollback streams have in common.
type streamRecv interface {
	grpc.ClientStream
}

// nodeResult is one node's outcome of a deploy or rollback.
type nodeResult struct {
	Node    string                `json:"node"`
	Address string                `json:"address"`
	Result  *agentv1.DeployResult `json:"result,omitempty"`
	Error   string                `json:"error,omitempty"`
	Skipped bool                  `json:"skipped,omitempty"`
}

// runDeploys runs start on each node in turn, printing progress, and stops
// at the first failure.
func runDeploys(cmd *cobra.Command, g *globals, nodes []fleet.Node, app string, secrets []string,
	start func(ctx context.Context, c *agentclient.Conn) (streamRecv, error)) error {
	out := &masker{w: cmd.OutOrStdout(), secrets: secrets}
	t0 := time.Now()
	var results []nodeResult
	failedAt := -1
	for i, n := range nodes {
		if failedAt >= 0 {
			results = append(results, nodeResult{Node: n.Name, Address: n.Addr(), Skipped: true})
			continue
		}
		fmt.Fprintf(out, "==> %s (%s)\n", n.Name, n.Addr())
		res, err := deployOne(cmd.Context(), n, out, t0, start)
		nr := nodeResult{Node: n.Name, Address: n.Addr(), Result: res}
		if err != nil {
			nr.Error = err.Error()
			fmt.Fprintf(out, "    %s: %s\n", n.Name, nr.Error)
			failedAt = i
		} else if res.GetOutcome() == agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED {
			failedAt = i
		}
		results = append(results, nr)
	}
	printSummary(out, g.output, app, results, time.Since(t0))
	if failedAt >= 0 {
		return failed{msg: fmt.Sprintf("%s failed on %s; %d later node(s) not touched", app, nodes[failedAt].Name, len(nodes)-failedAt-1)}
	}
	return nil
}

func deployOne(ctx context.Context, n fleet.Node, out io.Writer, t0 time.Time, start func(ctx context.Context, c *agentclient.Conn) (streamRecv, error)) (*agentv1.DeployResult, error) {
	c, err := agentclient.Dial(n.Conn)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stream, err := start(ctx, c)
	if err != nil {
		return nil, errors.New(agentclient.Describe(n.Addr(), err))
	}
	for {
		ev, res, err := recvDeploy(stream)
		if err == io.EOF {
			return nil, fmt.Errorf("agent at %s ended the stream without a result", n.Addr())
		}
		if err != nil {
			return nil, errors.New(agentclient.Describe(n.Addr(), err))
		}
		if ev != nil {
			fmt.Fprintf(out, "    [%s %6.1fs] %-8s %s\n", n.Name, time.Since(t0).Seconds(), phaseName(ev.GetPhase()), ev.GetMessage())
		}
		if res != nil {
			printResult(out, n.Name, res)
			return res, nil
		}
	}
}

// recvDeploy reads one message of a Deploy or Rollback stream.
func recvDeploy(s streamRecv) (*agentv1.DeployEvent, *agentv1.DeployResult, error) {
	switch st := s.(type) {
	case grpc.ServerStreamingClient[agentv1.DeployResponse]:
		m, err := st.Recv()
		return m.GetEvent(), m.GetResult(), err
	case grpc.ServerStreamingClient[agentv1.RollbackResponse]:
		m, err := st.Recv()
		return m.GetEvent(), m.GetResult(), err
	}
	return nil, nil, fmt.Errorf("unexpected stream type %T", s)
}

func phaseName(p agentv1.DeployPhase) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(p.String(), "DEPLOY_PHASE_"), "_", "-"))
}

func outcomeName(o agentv1.DeployOutcome) string {
	return strings.ToLower(strings.TrimPrefix(o.String(), "DEPLOY_OUTCOME_"))
}

func printResult(out io.Writer, node string, r *agentv1.DeployResult) {
	fmt.Fprintf(out, "    %s: %s: %s\n", node, strings.ToUpper(outcomeName(r.GetOutcome())), r.GetMessage())
	if len(r.GetLogTail()) > 0 {
		fmt.Fprintf(out, "    last log lines of the failed container:\n")
		for _, l := range r.GetLogTail() {
			fmt.Fprintf(out, "      | %s\n", l)
		}
	}
}

func printSummary(out io.Writer, format, app string, rs []nodeResult, took time.Duration) {
	if format == "json" {
		writeJSON(out, rs)
		return
	}
	fmt.Fprintf(out, "\n%s: %s\n", app, took.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRESULT\tVERSION\tPREVIOUS\tDEPLOY ID\tTOOK")
	for _, r := range rs {
		switch {
		case r.Skipped:
			fmt.Fprintf(tw, "%s\tskipped\t-\t-\t-\t-\n", r.Node)
		case r.Error != "":
			fmt.Fprintf(tw, "%s\terror\t-\t-\t-\t-\n", r.Node)
		default:
			res := r.Result
			running := res.GetVersion()
			if res.GetOutcome() == agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED {
				running = "none"
				if res.GetPreviousVersion() != "" {
					running = res.GetPreviousVersion() + " (kept)"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Node, outcomeName(res.GetOutcome()), running,
				orDash(res.GetPreviousVersion()), res.GetDeployId(), res.GetDuration().AsDuration().Round(100*time.Millisecond))
		}
	}
	tw.Flush()
}

// newDeployID names a rollout; every node records it, so one id finds the
// same rollout in every node's history.
func newDeployID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
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
	s := string(p)
	for _, sec := range m.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	if _, err := io.WriteString(m.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
