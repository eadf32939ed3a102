//go:build !labfleet_lean

package checks

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/fleet"
	"github.com/labfleet/labfleet/plugins/pluginkit"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

var checkDeploy = pluginkit.Spec{
	Name:    "check_deploy",
	Label:   "DEPLOY",
	Summary: "does every node run the same version of an app, healthy?",
	Usage:   "--app NAME (-i INVENTORY [--group G] [--limit PATTERN] | --hosts HOST:PORT,...) [agent TLS options]",
	Help: `Asks every node's agent for --app (GetApp), in parallel. The nodes are the
inventory's --group (default nodes, filtered by the Ansible --limit pattern;
address, port and TLS files from ansible_host, labagent_port and labagent_*
host vars, as labcontroller reads them) or the --hosts list (port 7443 when
left out). CRITICAL when a node cannot be reached, does not have the app, or
its container is not running or unhealthy; WARNING when the nodes run more
than one version (drift) or a health check is still starting.`,
	New: func() pluginkit.Plugin { return &deployCheck{} },
}

type deployCheck struct {
	inventory, group, limit, app string
	hosts                        []string
	tls                          pluginkit.AgentTLS
}

func (c *deployCheck) Flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.inventory, "inventory", "i", "", "Ansible inventory `FILE` (default: $LABFLEET_INVENTORY)")
	fs.StringVar(&c.group, "group", "nodes", "inventory `GROUP` of the nodes")
	fs.StringVar(&c.limit, "limit", "", "Ansible host `PATTERN` to narrow the group")
	fs.StringSliceVar(&c.hosts, "hosts", nil, "agents to ask instead of an inventory: `HOST:PORT,...`")
	fs.StringVar(&c.app, "app", "", "app `NAME` (required)")
	c.tls.Register(fs)
}

func (c *deployCheck) nodes() ([]fleet.Node, error) {
	if len(c.hosts) > 0 {
		if c.inventory != "" {
			return nil, pluginkit.Usagef("give either -i INVENTORY or --hosts, not both")
		}
		if c.limit != "" || c.group != "nodes" {
			return nil, pluginkit.Usagef("--group and --limit select from an inventory; with --hosts, list only the agents to ask")
		}
		var nodes []fleet.Node
		seen := map[string]bool{}
		for _, h := range c.hosts {
			addr, err := hostAddr(h)
			if err != nil {
				return nil, err
			}
			if seen[addr] {
				return nil, pluginkit.Usagef("--hosts: %s is listed twice", addr)
			}
			seen[addr] = true
			nodes = append(nodes, fleet.Node{Name: addr, Conn: c.tls.Options(addr)})
		}
		return nodes, nil
	}
	if c.inventory == "" {
		c.inventory = os.Getenv("LABFLEET_INVENTORY")
	}
	if c.inventory == "" {
		return nil, pluginkit.Usagef("give -i INVENTORY (or set LABFLEET_INVENTORY) or --hosts HOST:PORT,...")
	}
	d := fleet.Defaults{CAFile: c.tls.CAFile, CertFile: c.tls.CertFile, KeyFile: c.tls.KeyFile, TokenFile: c.tls.TokenFile, Insecure: c.tls.Insecure,
		Spelling: pluginkit.Spelling, Monitoring: true}
	nodes, err := fleet.Resolve(c.inventory, c.group, c.limit, d)
	if err != nil {
		return nil, pluginkit.Usagef("%v", err)
	}
	return nodes, nil
}

// hostAddr reads one --hosts entry, HOST or HOST:PORT (an IPv6 address in
// brackets when it has a port), into HOST:PORT.
func hostAddr(entry string) (string, error) {
	h := strings.TrimSpace(entry)
	bad := func(why string) error {
		return pluginkit.Usagef("--hosts %q: %s; want HOST or HOST:PORT, comma separated, e.g. 10.0.0.3,node2:7443,[2001:db8::5]:7443", entry, why)
	}
	if h == "" {
		return "", bad("an empty entry")
	}
	host, port, err := net.SplitHostPort(h)
	switch {
	case err == nil:
	case net.ParseIP(strings.Trim(h, "[]")) != nil:
		host, port = strings.Trim(h, "[]"), strconv.Itoa(agentclient.DefaultPort)
	case !strings.Contains(h, ":"):
		host, port = h, strconv.Itoa(agentclient.DefaultPort)
	default:
		return "", bad("not an address")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", bad(fmt.Sprintf("port %q is not a port number", port))
	}
	if host == "" || strings.ContainsAny(host, "/@ \t") || strings.ContainsFunc(host, unicode.IsControl) {
		return "", bad("not a host name or address")
	}
	return net.JoinHostPort(host, port), nil
}

func (c *deployCheck) Run(ctx context.Context, r *pluginkit.Result) error {
	if c.app == "" {
		return pluginkit.Usagef("--app NAME is required")
	}
	if err := agentv1.ValidateAppName("--app", c.app); err != nil {
		return pluginkit.Usagef("%v", err)
	}
	nodes, err := c.nodes()
	if err != nil {
		return err
	}
	for _, n := range nodes {
		// Bad TLS options fail here, as UNKNOWN, rather than per node.
		conn, err := pluginkit.DialAgent(n.Conn)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		conn.Close()
	}

	// fleet.Each dials each node itself; the connection's target (the
	// agent address) tells which node answered, for the timeout message.
	var mu sync.Mutex
	pending := map[string]string{}
	for _, n := range nodes {
		pending[n.Addr()] = n.Name
	}
	stage := func() {
		var names []string
		for _, n := range pending {
			names = append(names, n)
		}
		slices.Sort(names)
		if len(names) == 0 {
			r.Stage("comparing the answers about %s", c.app)
			return
		}
		r.Stage("waiting for GetApp(%s) from %s", c.app, strings.Join(names, ", "))
	}
	stage()
	results := fleet.Each(ctx, nodes, func(ctx context.Context, conn *agentclient.Conn) (*agentv1.App, error) {
		resp, err := conn.Agent.GetApp(ctx, &agentv1.GetAppRequest{App: c.app})
		if ctx.Err() == nil { // a call cut by the timeout is still pending
			mu.Lock()
			delete(pending, conn.Target())
			stage()
			mu.Unlock()
		}
		return resp.GetApp(), err
	})
	c.report(ctx, r, results)
	return nil
}

// report records each node's finding, then the drift across nodes.
func (c *deployCheck) report(ctx context.Context, r *pluginkit.Result, results []fleet.Result[*agentv1.App]) {
	byVersion := map[string][]string{}
	healthy := 0
	for _, res := range results {
		name, a := res.Node.Name, res.Value
		switch {
		case status.Code(res.Err) == codes.NotFound:
			r.Critical("%s has no %s", name, c.app)
			r.Long("%s: no app %s", name, c.app)
			continue
		case res.Err != nil:
			if ctx.Err() == nil {
				r.Critical("%s: %s", name, res.Err)
			}
			r.Long("%s: no answer", name)
			continue
		}
		byVersion[a.GetVersion()] = append(byVersion[a.GetVersion()], name)
		r.Long("%s: %s %s, %s, %s, image %s", name, c.app, a.GetVersion(), a.GetState(), healthWord(a.GetHealth()), a.GetImage())
		switch h := a.GetHealth(); {
		case a.GetState() != "running" || h == agentv1.AppHealth_APP_HEALTH_STOPPED:
			r.Critical("%s: %s %s not running (%s)", name, c.app, a.GetVersion(), orNone(a.GetState()))
		case h == agentv1.AppHealth_APP_HEALTH_UNHEALTHY:
			r.Critical("%s: %s %s unhealthy", name, c.app, a.GetVersion())
		case h == agentv1.AppHealth_APP_HEALTH_STARTING:
			r.Warning("%s: %s %s health check still starting", name, c.app, a.GetVersion())
		default:
			healthy++
		}
	}
	versions := make([]string, 0, len(byVersion))
	for v := range byVersion {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	if len(versions) > 1 {
		parts := make([]string, len(versions))
		for i, v := range versions {
			parts[i] = fmt.Sprintf("%s on %s", orNone(v), strings.Join(byVersion[v], ", "))
		}
		r.Warning("%s version drift: %s", c.app, strings.Join(parts, "; "))
	}
	n := float64(len(results))
	r.Perf(pluginkit.Perf{Label: "nodes", Value: n, Min: pluginkit.F(0)})
	r.Perf(pluginkit.Perf{Label: "healthy", Value: float64(healthy), Crit: &pluginkit.Range{Start: n, End: inf}, Min: pluginkit.F(0), Max: pluginkit.F(n)})
	r.Perf(pluginkit.Perf{Label: "versions", Value: float64(len(versions)), Warn: &pluginkit.Range{End: 1}, Min: pluginkit.F(0)})
	if len(versions) == 1 && healthy == len(results) {
		where := "all " + plural(len(results), "node")
		if len(results) == 1 {
			where = results[0].Node.Name
		}
		r.OK("%s %s on %s, healthy", c.app, versions[0], where)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
