package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/fleet"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// dryRun prints what a deploy would change on which node. Each agent
// answers a dry-run Deploy (no lock, no pull, nothing recorded) by
// comparing image and settings with what runs; with --haproxy the backend
// and its servers are checked too. Nothing is changed anywhere.
func dryRun(cmd *cobra.Command, g *globals, nodes []fleet.Node, lb *balancer, req *agentv1.DeployRequest) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	if lb != nil {
		servers := make([]string, len(nodes))
		for i, n := range nodes {
			servers[i] = serverName(n)
		}
		if err := lb.Check(ctx, servers); err != nil {
			return failed{msg: err.Error()}
		}
	}
	dry := proto.Clone(req).(*agentv1.DeployRequest)
	dry.DryRun = true
	res := fleet.Each(ctx, nodes, func(ctx context.Context, c *agentclient.Conn) (*agentv1.DeployResult, error) {
		ctx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
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
	fmt.Fprintf(out, "Plan for %s -> %s, deploy id %s (nothing is changed):\n", req.GetApp(), req.GetImage(), req.GetDeployId())
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNOW\tWOULD\tWHY\tLB SERVER")
	var bad []string
	for _, r := range res {
		server := "-"
		if lb != nil {
			server = serverName(r.Node) + " (" + lb.state(ctx, serverName(r.Node)) + ")"
		}
		if r.Err != nil {
			msg := r.Err.Error()
			bad = append(bad, r.Node.Name+": "+msg)
			fmt.Fprintf(tw, "%s\tUNREACHABLE\t-\t%s\t%s\n", r.Node.Name, msg, server)
			continue
		}
		v := r.Value
		would := "change: " + orDash(v.GetPreviousVersion()) + " -> " + v.GetVersion()
		switch v.GetOutcome() {
		case agentv1.DeployOutcome_DEPLOY_OUTCOME_UNCHANGED:
			would = "nothing"
		case agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED:
			would = "FAIL"
			bad = append(bad, r.Node.Name+": "+v.GetMessage())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Node.Name, orDash(v.GetPreviousVersion()), would, v.GetMessage(), server)
	}
	tw.Flush()
	if len(bad) > 0 {
		return failed{msg: fmt.Sprintf("%d node(s) cannot be deployed: %v", len(bad), bad)}
	}
	return nil
}
