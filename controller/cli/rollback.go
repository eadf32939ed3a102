package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/deployid"
	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newRollbackCmd(g *globals) *cobra.Command {
	var app, version, id string
	rf := &rollFlags{}
	cmd := &cobra.Command{
		Use:   "rollback --app NAME [--version V]",
		Short: "Go back to a retained earlier version, batch by batch, behind HAProxy and the health gate",
		Long: `rollback starts a stopped earlier container of --app again (the agent keeps the last 5)
and stops the current one; the earlier version must pass the health gate it was deployed
with, or the current version is put back. Without --version it goes to the newest
retained version that differs from the running one. It rolls like deploy (--batch,
--haproxy, the fleet lock, --idle-timeout for a node that stops reporting progress)
and stops at the first failure; -o json prints the progress on stderr.`,
		Example: `  labcontroller -i inventory.ini rollback --app todo
  labcontroller -i inventory.ini --limit node2 rollback --app todo --version v1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			req := &agentv1.RollbackRequest{App: app, Version: version, DeployId: id}
			if req.DeployId == "" {
				req.DeployId = deployid.New("", time.Now())
			}
			if err := req.Validate(); err != nil {
				return usageErr("%v", err)
			}
			if err := rf.check(); err != nil {
				return err
			}
			if rf.dryRun {
				return usageErr("rollback has no --dry-run; see `labcontroller status` for the retained versions")
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			lb, err := newBalancer(g)
			if err != nil {
				return err
			}
			release, err := rf.lock(cmd.Context(), app, req.DeployId, "rollback")
			if err != nil {
				return err
			}
			defer release()
			return roll(cmd, g, rf, nodes, lb, app, version, req.DeployId, nil, false,
				func(ctx context.Context, c *agentclient.Conn) (func() (deployreq.Message, error), error) {
					s, err := c.Agent.Rollback(ctx, req)
					return deployreq.Recv(s), err
				})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app name (required)")
	cmd.Flags().StringVar(&version, "version", "", "retained version to go back to (default: the previous one)")
	cmd.Flags().StringVar(&id, "deploy-id", "", "id recorded in history (default: generated)")
	rf.bind(cmd.Flags())
	cmd.Flags().MarkHidden("dry-run")
	cmd.Flags().MarkHidden("no-auto-revert")
	return cmd
}
