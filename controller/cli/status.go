package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/controller/fleet"
	"github.com/labfleet/labfleet/internal/agentclient"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newStatusCmd(g *globals) *cobra.Command {
	var app string
	cmd := &cobra.Command{
		Use:   "status [--app NAME]",
		Short: "Show the apps on each node: version, digest, health, restarts",
		Long: `status lists every app (or --app) on each selected node. It exits 1 when a node is
unreachable or an app is not running.`,
		Example: `  labcontroller -i inventory.ini status
  labcontroller -i inventory.ini status --app todo -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			if app != "" {
				if err := agentv1.ValidateAppName("--app", app); err != nil {
					return usageErr("%v", err)
				}
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			res := fleet.Each(cmd.Context(), nodes, func(ctx context.Context, c *agentclient.Conn) ([]*agentv1.App, error) {
				ctx, cancel := context.WithTimeout(ctx, g.timeout)
				defer cancel()
				r, err := c.Agent.ListApps(ctx, &agentv1.ListAppsRequest{})
				return r.GetApps(), err
			})
			type row struct {
				Node  string         `json:"node"`
				Error string         `json:"error,omitempty"`
				Apps  []*agentv1.App `json:"apps"`
			}
			var rows []row
			var bad []string
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tAPP\tVERSION\tDIGEST\tHEALTH\tSTATE\tRESTARTS\tUP\tRETAINED")
			for _, r := range res {
				if r.Err != nil {
					msg := agentclient.Describe(r.Node.Addr(), r.Err)
					rows = append(rows, row{Node: r.Node.Name, Error: msg})
					bad = append(bad, r.Node.Name+": "+msg)
					fmt.Fprintf(tw, "%s\t-\t-\t-\tUNREACHABLE\t-\t-\t-\t-\n", r.Node.Name)
					continue
				}
				var apps []*agentv1.App
				for _, a := range r.Value {
					if app == "" || a.GetName() == app {
						apps = append(apps, a)
					}
				}
				if app != "" && len(apps) == 0 {
					bad = append(bad, fmt.Sprintf("%s: no app %s", r.Node.Name, app))
					fmt.Fprintf(tw, "%s\t%s\t-\t-\tMISSING\t-\t-\t-\t-\n", r.Node.Name, app)
				}
				rows = append(rows, row{Node: r.Node.Name, Apps: apps})
				if app == "" && len(apps) == 0 {
					fmt.Fprintf(tw, "%s\t(no apps)\t-\t-\t-\t-\t-\t-\t-\n", r.Node.Name)
				}
				for _, a := range apps {
					health := strings.ToLower(strings.TrimPrefix(a.GetHealth().String(), "APP_HEALTH_"))
					if a.GetHealth() != agentv1.AppHealth_APP_HEALTH_HEALTHY && a.GetHealth() != agentv1.AppHealth_APP_HEALTH_NONE {
						bad = append(bad, fmt.Sprintf("%s: %s is %s", r.Node.Name, a.GetName(), health))
						health = strings.ToUpper(health)
					}
					up := "-"
					if a.GetState() == "running" && a.GetStartedAt() != nil {
						up = time.Since(a.GetStartedAt().AsTime()).Round(time.Second).String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Node.Name, a.GetName(), orDash(a.GetVersion()),
						shortDigest(a.GetImageDigest()), health, orDash(a.GetState()), a.GetRestartCount(), up,
						orDash(strings.Join(a.GetRetainedVersions(), ",")))
				}
			}
			if g.output == "json" {
				writeJSON(out, rows)
			} else {
				tw.Flush()
			}
			if len(bad) > 0 {
				return failed{msg: strings.Join(bad, "\n")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "only this app")
	return cmd
}

func shortDigest(d string) string {
	if i := strings.Index(d, ":"); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return orDash(d)
}
