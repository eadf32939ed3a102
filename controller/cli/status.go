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
	"github.com/labfleet/labfleet/internal/haproxy"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newStatusCmd(g *globals) *cobra.Command {
	var app string
	var check bool
	cmd := &cobra.Command{
		Use:   "status [--app NAME] [--check]",
		Short: "Show the apps on each node: version, digest, health, restarts, HAProxy state; flag drift",
		Long: `status lists every app (or --app) on each selected node. With --haproxy and
--haproxy-backend it adds the node's HAProxy server: active or backup, its status, and
whether HAProxy may use it (not in DRAIN or MAINT, not down, weight above 0); a server an
agent-check holds at weight 0 is shown with the agent's reason. A backup serving because
no active server is usable, and a backend with no usable server, are named below the
table. Apps whose nodes run different versions (or where some nodes lack the app) are
marked DRIFT. It exits 1 when a node is unreachable; with --check it also exits 1 on
drift, when an app is not healthy, or when the HAProxy backend has no usable server, for
CI and cron.`,
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
	Drift    bool   `json:"drift,omitempty"`
	Error    string `json:"error,omitempty"`
	lbServer
}

// lbServer is a node's server in the HAProxy backend, for status. The
// JSON keeps "haproxy" as HAProxy's status (UP, DRAIN, ...) and adds the
// rest beside it; none of it is there without --haproxy.
type lbServer struct {
	LB        string `json:"haproxy,omitempty"`
	LBRole    string `json:"haproxy_role,omitempty"`   // active or backup
	LBUsable  *bool  `json:"haproxy_usable,omitempty"` // HAProxy may send it requests
	LBServing bool   `json:"haproxy_serving,omitempty"`
	LBWeight  *int   `json:"haproxy_weight,omitempty"`
	LBWhy     string `json:"haproxy_not_usable,omitempty"` // why not, e.g. "weight 0 (agent: replication: ...)"
	LBAgent   string `json:"haproxy_agent,omitempty"`      // the agent-check's last comment
	lbText    string // the table's HAPROXY column
}

func printStatus(cmd *cobra.Command, g *globals, lb *balancer, only string, check bool, res []fleet.Result[[]*agentv1.App]) error {
	ctx := cmd.Context()
	var rows []*statusRow
	var unreachable, problems []string
	versions := map[string]map[string]bool{} // app -> versions seen
	present := map[string]int{}              // app -> nodes that have it
	reachable := 0
	var backend *lbView
	if lb != nil {
		backend = lb.view(ctx)
	}
	for _, r := range res {
		var lbState lbServer
		if backend != nil {
			lbState = backend.server(serverName(r.Node))
		}
		if r.Err != nil {
			msg := r.Err.Error()
			unreachable = append(unreachable, r.Node.Name+": "+esc(msg))
			rows = append(rows, &statusRow{Node: r.Node.Name, Health: "UNREACHABLE", lbServer: lbState, Error: msg})
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
				Retained: strings.Join(a.GetRetainedVersions(), ","), lbServer: lbState})
		}
		if !found {
			rows = append(rows, &statusRow{Node: r.Node.Name, App: only, Health: "MISSING", lbServer: lbState})
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
				line += "\t" + esc(orDash(r.lbText))
			}
			fmt.Fprintln(tw, line+"\t")
		}
		tw.Flush()
		if len(drifted) > 0 {
			fmt.Fprintf(out, "\n* DRIFT: the nodes do not all run the same version of %s\n", esc(strings.Join(drifted, ", ")))
		}
		if backend != nil && backend.note != "" {
			fmt.Fprintf(out, "\n%s\n", esc(backend.note))
		}
	}
	var fail []string
	fail = append(fail, unreachable...)
	if check {
		for _, a := range drifted {
			fail = append(fail, "version drift in "+esc(a))
		}
		fail = append(fail, problems...)
		if backend != nil && backend.err == nil && !backend.anyUsable {
			fail = append(fail, esc(backend.note))
		}
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

// lbView is the HAProxy backend as status shows it, read once for all
// nodes so that every row agrees on which server serves.
type lbView struct {
	servers   map[string]haproxy.Server
	serving   map[string]bool
	anyUsable bool
	err       error
	// note is the line under the table: a backup serving because no
	// active server is usable, no usable server at all, or why HAProxy
	// could not be read.
	note string
}

func (b *balancer) view(ctx context.Context) *lbView {
	v := &lbView{servers: map[string]haproxy.Server{}, serving: map[string]bool{}}
	servers, err := b.c.Servers(ctx, b.backend)
	if err != nil {
		v.err = err
		v.note = fmt.Sprintf("HAProxy: cannot read backend %s: %v", b.backend, err)
		return v
	}
	serving, viaBackup := haproxy.Serving(servers)
	var names []string
	for _, s := range serving {
		v.serving[s.Name] = true
		names = append(names, s.Name)
	}
	v.anyUsable = len(serving) > 0
	var active, why []string
	for _, s := range servers {
		v.servers[s.Name] = s
		if !s.Backup {
			active = append(active, s.Name)
		}
		if !s.Usable() && (!viaBackup || !s.Backup) {
			why = append(why, s.Name+" "+s.NotUsable())
		}
	}
	switch {
	case !v.anyUsable:
		v.note = fmt.Sprintf("HAProxy backend %s: no usable server: %s", b.backend, strings.Join(why, ", "))
	case viaBackup && len(active) > 0:
		v.note = fmt.Sprintf("HAProxy backend %s: failover: %s serving, no active server is usable: %s",
			b.backend, strings.Join(names, ", "), strings.Join(why, ", "))
	}
	return v
}

// server describes the named server: "active UP, usable, serving",
// "backup UP, usable", "active UP, NOT USABLE: weight 0 (agent: ...)",
// "active DRAIN, NOT USABLE".
func (v *lbView) server(name string) lbServer {
	if v.err != nil {
		return lbServer{LB: "?", lbText: "?"}
	}
	s, ok := v.servers[name]
	if !ok {
		return lbServer{LB: "?", lbText: "no server " + name}
	}
	role := "active"
	if s.Backup {
		role = "backup"
	}
	usable, weight := s.Usable(), s.Weight
	l := lbServer{LB: s.Status, LBRole: role, LBUsable: &usable, LBServing: v.serving[name], LBWeight: &weight,
		LBWhy: s.NotUsable(), LBAgent: s.AgentComment()}
	l.lbText = role + " " + s.Status
	word, _, _ := strings.Cut(s.Status, " ")
	switch {
	case usable && l.LBServing:
		l.lbText += ", usable, serving"
	case usable:
		l.lbText += ", usable"
	case strings.EqualFold(l.LBWhy, word):
		// DRAIN, MAINT: the status says it all.
		l.lbText += ", NOT USABLE"
	default:
		l.lbText += ", NOT USABLE: " + l.LBWhy
	}
	return l
}
