package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/internal/agentclient"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newRollbackCmd(g *globals) *cobra.Command {
	var app, version, id string
	cmd := &cobra.Command{
		Use:   "rollback --app NAME [--version V]",
		Short: "Go back to a retained earlier version, one node at a time, behind the health gate",
		Long: `rollback starts a stopped earlier container of --app again (the agent keeps the last 5)
and stops the current one; the earlier version must pass the health gate it was deployed
with, or the current version is put back. Without --version it goes to the newest
retained version that differs from the running one.`,
		Example: `  labcontroller -i inventory.ini rollback --app todo
  labcontroller -i inventory.ini --limit node2 rollback --app todo --version v1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			req := &agentv1.RollbackRequest{App: app, Version: version, DeployId: id}
			if req.DeployId == "" {
				req.DeployId = newDeployID()
			}
			if err := req.Validate(); err != nil {
				return usageErr("%v", err)
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			return runDeploys(cmd, g, nodes, app, nil, func(ctx context.Context, c *agentclient.Conn) (streamRecv, error) {
				return c.Agent.Rollback(ctx, req)
			})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app name (required)")
	cmd.Flags().StringVar(&version, "version", "", "retained version to go back to (default: the previous one)")
	cmd.Flags().StringVar(&id, "deploy-id", "", "id recorded in history (default: generated)")
	return cmd
}
