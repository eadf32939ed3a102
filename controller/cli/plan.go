package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/deployreq"
	"github.com/labfleet/labfleet/internal/fleet"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// planRow is one node of a dry run, as -o json prints it.
type planRow struct {
	Node            string `json:"node"`
	Outcome         string `json:"outcome,omitempty"`
	Version         string `json:"version,omitempty"`
	PreviousVersion string `json:"previous_version,omitempty"`
	Message         string `json:"message,omitempty"`
	LBServer        string `json:"haproxy_server,omitempty"`
	LBState         string `json:"haproxy_state,omitempty"`
	Error           string `json:"error,omitempty"`
}

// planJSON is a dry run as -o json prints it.
type planJSON struct {
	App      string    `json:"app"`
	Image    string    `json:"image"`
	DeployID string    `json:"deploy_id"`
	Nodes    []planRow `json:"nodes"`
}

// dryRun prints what a deploy would change on which node. Each agent
// answers a dry-run Deploy (no lock, no pull, nothing recorded) by
// comparing image and settings with what runs; with --haproxy the backend
// and its servers are checked too. Nothing is changed anywhere. What the
// agents say is printed with secrets masked, like a real deploy's output.
func dryRun(cmd *cobra.Command, g *globals, nodes []fleet.Node, lb *balancer, req *agentv1.DeployRequest, secrets []string) error {
	ctx := cmd.Context()
	out := &masker{w: cmd.OutOrStdout(), secrets: secrets}
	if lb != nil {
		servers := make([]string, len(nodes))
		for i, n := range nodes {
			servers[i] = serverName(n)
		}
		if err := lb.Check(ctx, servers); err != nil {
			return failed{msg: mask(esc(err.Error()), secrets)}
		}
	}
	dry := proto.Clone(req).(*agentv1.DeployRequest)
	dry.DryRun = true
	res := fleet.EachWithin(ctx, nodes, g.timeout, func(ctx context.Context, c *agentclient.Conn) (*agentv1.DeployResult, error) {
		s, err := c.Agent.Deploy(ctx, dry)
		if err != nil {
			return nil, err
		}
		for {
			m, err := s.Recv()
			if err == io.EOF {
				return nil, fmt.Errorf("the agent ended the dry run without a result")
			}
			if err != nil {
				return nil, err
			}
			if r := m.GetResult(); r != nil {
				return r, nil
			}
		}
	})
	var rows []planRow
	var bad []string
	for _, r := range res {
		row := planRow{Node: r.Node.Name}
		if lb != nil {
			row.LBServer, row.LBState = serverName(r.Node), lb.state(ctx, serverName(r.Node))
		}
		if r.Err != nil {
			row.Error = r.Err.Error()
			bad = append(bad, r.Node.Name+": "+esc(row.Error))
		} else {
			v := r.Value
			row.Outcome, row.Version, row.PreviousVersion, row.Message = deployreq.OutcomeName(v.GetOutcome()), v.GetVersion(), v.GetPreviousVersion(), v.GetMessage()
			if v.GetOutcome() == agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED {
				bad = append(bad, r.Node.Name+": "+esc(v.GetMessage()))
			}
		}
		rows = append(rows, row)
	}
	if g.output == "json" {
		writeJSON(out, planJSON{App: req.GetApp(), Image: req.GetImage(), DeployID: req.GetDeployId(), Nodes: rows})
	} else {
		printPlan(out, req, rows)
	}
	if len(bad) > 0 {
		return failed{msg: mask(fmt.Sprintf("%d node(s) cannot be deployed: %v", len(bad), bad), secrets)}
	}
	return nil
}

func printPlan(out io.Writer, req *agentv1.DeployRequest, rows []planRow) {
	fmt.Fprintf(out, "Plan for %s -> %s, deploy id %s (nothing is changed):\n", req.GetApp(), req.GetImage(), req.GetDeployId())
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNOW\tWOULD\tWHY\tLB SERVER")
	for _, r := range rows {
		server := "-"
		if r.LBServer != "" {
			server = r.LBServer + " (" + esc(r.LBState) + ")"
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\tUNREACHABLE\t-\t%s\t%s\n", r.Node, esc(r.Error), server)
			continue
		}
		would := "change: " + esc(orDash(r.PreviousVersion)) + " -> " + esc(r.Version)
		switch r.Outcome {
		case deployreq.OutcomeName(agentv1.DeployOutcome_DEPLOY_OUTCOME_UNCHANGED):
			would = "nothing"
		case deployreq.OutcomeName(agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED):
			would = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Node, esc(orDash(r.PreviousVersion)), would, esc(r.Message), server)
	}
	tw.Flush()
}
