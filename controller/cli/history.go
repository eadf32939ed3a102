package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/deployreq"
	"github.com/labfleet/labfleet/internal/fleet"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var app string
	var n uint32
	cmd := &cobra.Command{
		Use:   "history [--app NAME] [-n N]",
		Short: "Show recorded deploys and rollbacks per node, newest first",
		Example: `  labcontroller -i inventory.ini history --app todo
  labcontroller -i inventory.ini --limit node1 history -n 5 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			req := &agentv1.GetHistoryRequest{App: app, Limit: n}
			if err := req.Validate(); err != nil {
				return usageErr("%v", err)
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			res := fleet.EachWithin(cmd.Context(), nodes, g.timeout, func(ctx context.Context, c *agentclient.Conn) (*agentv1.GetHistoryResponse, error) {
				return c.Agent.GetHistory(ctx, req)
			})
			type row struct {
				Node    string                  `json:"node"`
				Error   string                  `json:"error,omitempty"`
				Entries []*deployreq.ResultView `json:"entries,omitempty"`
			}
			var rows []row
			var bad []string
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tFINISHED\tAPP\tKIND\tRESULT\tVERSION\tPREVIOUS\tCALLER\tTOOK\tDEPLOY ID")
			for _, r := range res {
				if r.Err != nil {
					msg := r.Err.Error()
					rows = append(rows, row{Node: r.Node.Name, Error: msg})
					bad = append(bad, r.Node.Name+": "+esc(msg))
					continue
				}
				rows = append(rows, row{Node: r.Node.Name, Entries: deployreq.Views(r.Value.GetEntries())})
				for _, e := range r.Value.GetEntries() {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Node.Name,
						e.GetFinishedAt().AsTime().Local().Format(time.DateTime), esc(e.GetApp()),
						deployreq.KindName(e.GetKind()), deployreq.OutcomeName(e.GetOutcome()),
						esc(orDash(e.GetVersion())), esc(orDash(e.GetPreviousVersion())), esc(orDash(e.GetCaller())),
						e.GetDuration().AsDuration().Round(100*time.Millisecond), esc(e.GetDeployId()))
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
	cmd.Flags().Uint32VarP(&n, "entries", "n", 20, "at most this many entries per node")
	return cmd
}
