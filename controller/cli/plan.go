package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/controller/fleet"
	"github.com/labfleet/labfleet/internal/agentclient"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// dryRun prints what a deploy would change on which node. It only reads:
// GetApp on each agent and, with --haproxy, the backend's servers.
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
	res := fleet.Each(ctx, nodes, func(ctx context.Context, c *agentclient.Conn) (*agentv1.App, error) {
		ctx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
		r, err := c.Agent.GetApp(ctx, &agentv1.GetAppRequest{App: req.GetApp()})
		if status.Code(err) == codes.NotFound {
			return nil, nil
		}
		return r.GetApp(), err
	})
	want := req.GetVersion()
	if want == "" {
		want = "(tag of " + req.GetImage() + ")"
	}
	fmt.Fprintf(out, "Plan for %s -> %s, deploy id %s (nothing is changed):\n", req.GetApp(), req.GetImage(), req.GetDeployId())
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNOW\tIMAGE NOW\tACTION\tLB SERVER")
	var bad []string
	for _, r := range res {
		server := "-"
		if lb != nil {
			server = serverName(r.Node) + " (" + lb.state(ctx, serverName(r.Node)) + ")"
		}
		switch {
		case r.Err != nil:
			msg := agentclient.Describe(r.Node.Addr(), r.Err)
			bad = append(bad, r.Node.Name+": "+msg)
			fmt.Fprintf(tw, "%s\tUNREACHABLE\t-\tcannot deploy\t%s\n", r.Node.Name, server)
		case r.Value == nil:
			fmt.Fprintf(tw, "%s\t-\t-\tfirst deploy of %s\t%s\n", r.Node.Name, want, server)
		case r.Value.GetImage() == req.GetImage() && r.Value.GetState() == "running":
			fmt.Fprintf(tw, "%s\t%s\t%s\tlikely unchanged (same image; the agent compares digests and settings)\t%s\n",
				r.Node.Name, r.Value.GetVersion(), r.Value.GetImage(), server)
		default:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s -> %s\t%s\n", r.Node.Name, orDash(r.Value.GetVersion()), orDash(r.Value.GetImage()),
				orDash(r.Value.GetVersion()), want, server)
		}
	}
	tw.Flush()
	if len(bad) > 0 {
		return failed{msg: fmt.Sprintf("%d node(s) unreachable: %v", len(bad), bad)}
	}
	return nil
}
