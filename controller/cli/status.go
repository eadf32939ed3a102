package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/deployreq"
	"github.com/labfleet/labfleet/internal/fleet"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newStatusCmd(g *globals) *cobra.Command {
	var app string
	var check bool
	cmd := &cobra.Command{
		Use:   "status [--app NAME] [--check]",
		Short: "Show the apps on each node: version, digest, health, restarts, HAProxy state; flag drift",
		Long: `status lists every app (or --app) on each selected node, with its HAProxy server state
when --haproxy is given. Apps whose nodes run different versions (or where some nodes
lack the app) are marked DRIFT. It exits 1 when a node is unreachable; with --check it
also exits 1 on drift or when an app is not healthy, for CI and cron.`,
		Example: `  labcontroller -i inventory.ini status
  labcontroller -i inventory.ini status --app todo --check --haproxy /run/haproxy/admin.sock --haproxy-backend app`,
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
			lb, err := newBalancer(g)
			if err != nil {
				return err
			}
			res := fleet.EachWithin(cmd.Context(), nodes, g.timeout, func(ctx context.Context, c *agentclient.Conn) ([]*agentv1.App, error) {
				r, err := c.Agent.ListApps(ctx, &agentv1.ListAppsRequest{})
				return r.GetApps(), err
			})
			return printStatus(cmd, g, lb, app, check, res)
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "only this app")
	cmd.Flags().BoolVar(&check, "check", false, "exit 1 on version drift or an unhealthy app")
	return cmd
}

type statusRow struct {
	Node     string `json:"node"`
	App      string `json:"app,omitempty"`
	Version  string `json:"version,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Health   string `json:"health,omitempty"`
	State    string `json:"state,omitempty"`
	Restarts int32  `json:"restarts"`
	Up       string `json:"up,omitempty"`
	Retained string `json:"retained,omitempty"`
	LB       string `json:"haproxy,omitempty"`
	Drift    bool   `json:"drift,omitempty"`
	Error    string `json:"error,omitempty"`
}

func printStatus(cmd *cobra.Command, g *globals, lb *balancer, only string, check bool, res []fleet.Result[[]*agentv1.App]) error {
	ctx := cmd.Context()
	var rows []*statusRow
	var unreachable, problems []string
	versions := map[string]map[string]bool{} // app -> versions seen
	present := map[string]int{}              // app -> nodes that have it
	reachable := 0
	for _, r := range res {
		lbState := ""
		if lb != nil {
			lbState = lb.state(ctx, serverName(r.Node))
		}
		if r.Err != nil {
			msg := r.Err.Error()
			unreachable = append(unreachable, r.Node.Name+": "+esc(msg))
			rows = append(rows, &statusRow{Node: r.Node.Name, Health: "UNREACHABLE", LB: lbState, Error: msg})
			continue
		}
		reachable++
		found := false
		for _, a := range r.Value {
			if only != "" && a.GetName() != only {
				continue
			}
			found = true
			health := deployreq.HealthName(a.GetHealth())
			if a.GetHealth() != agentv1.AppHealth_APP_HEALTH_HEALTHY && a.GetHealth() != agentv1.AppHealth_APP_HEALTH_NONE {
				problems = append(problems, fmt.Sprintf("%s: %s is %s", r.Node.Name, esc(a.GetName()), health))
				health = strings.ToUpper(health)
			}
			up := ""
			if a.GetState() == "running" && a.GetStartedAt() != nil {
				up = time.Since(a.GetStartedAt().AsTime()).Round(time.Second).String()
			}
			if versions[a.GetName()] == nil {
				versions[a.GetName()] = map[string]bool{}
			}
			versions[a.GetName()][a.GetVersion()+"@"+a.GetImageDigest()] = true
			present[a.GetName()]++
			rows = append(rows, &statusRow{Node: r.Node.Name, App: a.GetName(), Version: a.GetVersion(), Digest: a.GetImageDigest(),
				Health: health, State: a.GetState(), Restarts: a.GetRestartCount(), Up: up,
				Retained: strings.Join(a.GetRetainedVersions(), ","), LB: lbState})
		}
		if !found {
			rows = append(rows, &statusRow{Node: r.Node.Name, App: only, Health: "MISSING", LB: lbState})
			if only != "" {
				problems = append(problems, fmt.Sprintf("%s: no app %s", r.Node.Name, only))
			}
		}
	}
	var drifted []string
	for app, vs := range versions {
		if len(vs) > 1 || present[app] < reachable {
			drifted = append(drifted, app)
			for _, row := range rows {
				if row.App == app || (row.App == "" && row.Health == "MISSING") {
					row.Drift = true
				}
			}
		}
	}
	sort.Strings(drifted)
	out := cmd.OutOrStdout()
	if g.output == "json" {
		writeJSON(out, rows)
	} else {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		hdr := "NODE\tAPP\tVERSION\tDIGEST\tHEALTH\tSTATE\tRESTARTS\tUP\tRETAINED"
		if lb != nil {
			hdr += "\tHAPROXY"
		}
		fmt.Fprintln(tw, hdr+"\t")
		for _, r := range rows {
			version := orDash(r.Version)
			if r.Drift {
				version = "*" + version
			}
			line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s", r.Node, esc(orDash(r.App)), esc(version), esc(shortDigest(r.Digest)), orDash(r.Health),
				esc(orDash(r.State)), r.Restarts, orDash(r.Up), esc(orDash(r.Retained)))
			if lb != nil {
				line += "\t" + esc(orDash(r.LB))
			}
			fmt.Fprintln(tw, line+"\t")
		}
		tw.Flush()
		if len(drifted) > 0 {
			fmt.Fprintf(out, "\n* DRIFT: the nodes do not all run the same version of %s\n", esc(strings.Join(drifted, ", ")))
		}
	}
	var fail []string
	fail = append(fail, unreachable...)
	if check {
		for _, a := range drifted {
			fail = append(fail, "version drift in "+esc(a))
		}
		fail = append(fail, problems...)
	}
	if len(fail) > 0 {
		return failed{msg: strings.Join(fail, "\n")}
	}
	return nil
}

func shortDigest(d string) string {
	if i := strings.Index(d, ":"); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return orDash(d)
}
