package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/fleet"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newInfoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Show each node's agent: reachable, version, Docker Engine, uptime",
		Long: `info asks every selected node's agent who it is. It prints one row per node and
exits 1 when any node is unreachable, naming the node, its address and why.`,
		Example: `  labcontroller -i inventory.ini info
  labcontroller -i inventory.ini --limit node2 -o json info`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			res := fleet.EachWithin(cmd.Context(), nodes, g.timeout, func(ctx context.Context, c *agentclient.Conn) (*agentv1.GetInfoResponse, error) {
				return c.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
			})
			return printInfo(cmd, g.output, res)
		},
	}
}

type infoRow struct {
	Node         string   `json:"node"`
	Address      string   `json:"address"`
	Reachable    bool     `json:"reachable"`
	Error        string   `json:"error,omitempty"`
	AgentVersion string   `json:"agent_version,omitempty"`
	AgentNode    string   `json:"agent_node_name,omitempty"`
	Docker       string   `json:"docker,omitempty"`
	DockerError  string   `json:"docker_error,omitempty"`
	Uptime       string   `json:"uptime,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
}

func printInfo(cmd *cobra.Command, output string, res []fleet.Result[*agentv1.GetInfoResponse]) error {
	rows := make([]infoRow, len(res))
	var bad []string
	for i, r := range res {
		row := infoRow{Node: r.Node.Name, Address: r.Node.Addr()}
		if r.Err != nil {
			row.Error = r.Err.Error()
			bad = append(bad, fmt.Sprintf("%s: %s", r.Node.Name, esc(row.Error)))
		} else {
			v := r.Value
			row.Reachable = true
			row.AgentVersion = v.GetAgentVersion()
			row.AgentNode = v.GetNodeName()
			row.Uptime = v.GetUptime().AsDuration().Round(time.Second).String()
			row.Capabilities = v.GetCapabilities()
			if d := v.GetDocker(); d.GetReachable() {
				row.Docker = fmt.Sprintf("%s (API %s)", d.GetVersion(), d.GetApiVersion())
			} else {
				row.DockerError = d.GetError()
			}
		}
		rows[i] = row
	}
	out := cmd.OutOrStdout()
	if output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tADDRESS\tAGENT\tVERSION\tDOCKER\tUPTIME")
		for _, r := range rows {
			if !r.Reachable {
				fmt.Fprintf(tw, "%s\t%s\tUNREACHABLE\t-\t-\t-\n", r.Node, r.Address)
				continue
			}
			docker := r.Docker
			if docker == "" {
				docker = "DOWN: " + r.DockerError
			}
			fmt.Fprintf(tw, "%s\t%s\tok\t%s\t%s\t%s\n", r.Node, esc(r.Address), esc(r.AgentVersion), esc(docker), r.Uptime)
		}
		tw.Flush()
	}
	if len(bad) > 0 {
		return failed{msg: fmt.Sprintf("%d of %d nodes unreachable:\n  %s", len(bad), len(rows), strings.Join(bad, "\n  "))}
	}
	return nil
}
