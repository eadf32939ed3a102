// Package dyninv is labfleet's dynamic inventory for Ansible: the static
// inventory (INI or YAML, read with internal/inventory) plus what
// every node's agent reports right now. Each node of the nodes group gets
// the host vars labfleet_reachable, labfleet_agent_version,
// labfleet_node_name and labfleet_apps (app -> version), and joins the
// groups app_<name> for every app it runs, or labfleet_unreachable.
//
// It asks the agents only read-only questions (GetInfo, ListApps), all
// nodes in parallel under one short timeout; an unreachable node keeps its
// static vars. It never fails because a node is down: an inventory must
// still load when part of the fleet is.
package dyninv

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/fleet"
	"github.com/labfleet/labfleet/internal/inventory"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Group names the inventory adds.
const (
	AppGroupPrefix   = "app_"
	UnreachableGroup = "labfleet_unreachable"
)

// DefaultTimeout bounds the questions to all agents together.
const DefaultTimeout = 5 * time.Second

// ErrConfig marks settings the inventory cannot work with.
var ErrConfig = errors.New("labfleet-inventory")

// Config says where the static inventory is and how to reach the agents.
type Config struct {
	// Inventory is the static inventory file.
	Inventory string
	// Group holds the hosts that run labagent (default "nodes").
	Group string
	// Conn holds the TLS files and token; host vars fill what it leaves
	// empty, as for labcontroller.
	Conn fleet.Defaults
	// Timeout bounds the calls to every agent (default DefaultTimeout).
	Timeout time.Duration
}

// envSpelling names the connection settings in errors: the dynamic
// inventory takes them from the environment only.
var envSpelling = agentclient.Spelling{CA: "LABFLEET_CA", Cert: "LABFLEET_CERT", Key: "LABFLEET_KEY", Token: "LABFLEET_TOKEN_FILE", Insecure: "LABFLEET_INSECURE"}

// ConfigFromEnv reads the configuration from the environment, the only
// channel Ansible leaves an inventory script: LABFLEET_INVENTORY,
// LABFLEET_GROUP, LABFLEET_CA, LABFLEET_CERT, LABFLEET_KEY,
// LABFLEET_TOKEN_FILE, LABFLEET_INSECURE and LABFLEET_INVENTORY_TIMEOUT.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Inventory: getenv("LABFLEET_INVENTORY"),
		Group:     getenv("LABFLEET_GROUP"),
		Conn: fleet.Defaults{CAFile: getenv("LABFLEET_CA"), CertFile: getenv("LABFLEET_CERT"),
			KeyFile: getenv("LABFLEET_KEY"), TokenFile: getenv("LABFLEET_TOKEN_FILE"), Spelling: envSpelling},
		Timeout: DefaultTimeout,
	}
	if c.Inventory == "" {
		return c, fmt.Errorf("%w: set LABFLEET_INVENTORY to the static inventory file (INI or YAML) that lists the nodes", ErrConfig)
	}
	if v := getenv("LABFLEET_INSECURE"); v != "" {
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			c.Conn.Insecure = true
		case "0", "false", "no", "off":
		default:
			return c, fmt.Errorf("%w: LABFLEET_INSECURE=%q: use true or false", ErrConfig, v)
		}
	}
	if v := getenv("LABFLEET_INVENTORY_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if n, nerr := strconv.ParseFloat(v, 64); nerr == nil {
			d, err = time.Duration(n*float64(time.Second)), nil
		}
		if err != nil || d <= 0 {
			return c, fmt.Errorf("%w: LABFLEET_INVENTORY_TIMEOUT=%q: give seconds or a duration such as 3s", ErrConfig, v)
		}
		c.Timeout = d
	}
	return c, nil
}

// nodeState is what one agent told us, or why it did not.
type nodeState struct {
	info *agentv1.GetInfoResponse
	apps []*agentv1.App
	err  error
	// appsErr is set when the agent answered but could not list its apps
	// (e.g. its Docker Engine is down).
	appsErr error
}

// List returns what `--list` prints: the static inventory's groups and
// host vars (as `ansible-inventory --list` shows them) with the agents'
// answers added.
func List(ctx context.Context, c Config) (map[string]any, error) {
	inv, nodes, err := load(c)
	if err != nil {
		return nil, err
	}
	out := inv.ListJSON()
	hostvars := out["_meta"].(map[string]any)["hostvars"].(map[string]any)
	states := ask(ctx, c, nodes)
	added := map[string][]string{}
	var order []string
	addTo := func(group, host string) {
		if _, ok := added[group]; !ok {
			order = append(order, group)
		}
		added[group] = append(added[group], host)
	}
	for i, n := range nodes {
		vars, _ := hostvars[n.Name].(map[string]any)
		if vars == nil {
			vars = map[string]any{}
			hostvars[n.Name] = vars
		}
		for _, g := range annotate(vars, states[i], n) {
			addTo(g, n.Name)
		}
	}
	for _, g := range order {
		mergeGroup(out, g, added[g])
	}
	return out, nil
}

// Host returns what `--host NAME` prints: that host's vars, with the
// agent's answers when it is one of the nodes.
func Host(ctx context.Context, c Config, name string) (map[string]any, error) {
	inv, nodes, err := load(c)
	if err != nil {
		return nil, err
	}
	if _, ok := inv.Hosts[name]; !ok {
		return nil, fmt.Errorf("%w: host %s is not in %s", ErrConfig, name, c.Inventory)
	}
	vars := inv.HostVars(name)
	delete(vars, "inventory_hostname")
	for _, n := range nodes {
		if n.Name == name {
			annotate(vars, ask(ctx, c, []fleet.Node{n})[0], n)
		}
	}
	return vars, nil
}

// load reads the static inventory and resolves the nodes' agents.
func load(c Config) (*inventory.Inventory, []fleet.Node, error) {
	if c.Group == "" {
		c.Group = "nodes"
	}
	inv, err := inventory.Load(c.Inventory)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, ok := inv.Groups[c.Group]; !ok {
		return nil, nil, fmt.Errorf("%w: %s has no group %q (set LABFLEET_GROUP to the group whose hosts run labagent)", ErrConfig, c.Inventory, c.Group)
	}
	nodes, err := fleet.Select(inv, c.Group, "", c.Conn)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return inv, nodes, nil
}

// ask asks every node's agent, in parallel, under one deadline.
func ask(ctx context.Context, c Config, nodes []fleet.Node) []nodeState {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := fleet.Each(ctx, nodes, func(ctx context.Context, conn *agentclient.Conn) (nodeState, error) {
		var st nodeState
		info, err := conn.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
		if err != nil {
			return st, err
		}
		st.info = info
		apps, err := conn.Agent.ListApps(ctx, &agentv1.ListAppsRequest{})
		st.apps, st.appsErr = apps.GetApps(), conn.Explain(err)
		return st, nil
	})
	out := make([]nodeState, len(res))
	for i, r := range res {
		out[i] = r.Value
		out[i].err = r.Err
	}
	return out
}

// annotate adds one node's labfleet_* vars and returns the groups it joins.
func annotate(vars map[string]any, st nodeState, n fleet.Node) []string {
	vars["labfleet_agent"] = n.Addr()
	if st.err != nil {
		vars["labfleet_reachable"] = false
		vars["labfleet_error"] = st.err.Error()
		return []string{UnreachableGroup}
	}
	vars["labfleet_reachable"] = true
	vars["labfleet_agent_version"] = st.info.GetAgentVersion()
	vars["labfleet_node_name"] = st.info.GetNodeName()
	vars["labfleet_docker_version"] = st.info.GetDocker().GetVersion()
	apps := map[string]any{}
	var groups []string
	for _, a := range st.apps {
		apps[a.GetName()] = a.GetVersion()
		groups = append(groups, AppGroup(a.GetName()))
	}
	vars["labfleet_apps"] = apps
	if st.appsErr != nil {
		vars["labfleet_error"] = "cannot list apps: " + st.appsErr.Error()
	}
	return groups
}

var notGroupChar = regexp.MustCompile(`[^A-Za-z0-9_]`)

// AppGroup is the group of the nodes running app: app_<name>, with
// characters Ansible does not accept in group names ('-', '.') as '_'.
func AppGroup(app string) string {
	return AppGroupPrefix + notGroupChar.ReplaceAllString(app, "_")
}

// mergeGroup adds hosts to group (creating it as a child of all).
func mergeGroup(out map[string]any, group string, hosts []string) {
	g, ok := out[group].(map[string]any)
	if !ok {
		g = map[string]any{}
		out[group] = g
		all, _ := out["all"].(map[string]any)
		if all == nil {
			all = map[string]any{}
			out["all"] = all
		}
		children, _ := all["children"].([]string)
		all["children"] = append(children, group)
	}
	have, _ := g["hosts"].([]string)
	for _, h := range hosts {
		if !contains(have, h) {
			have = append(have, h)
		}
	}
	g["hosts"] = have
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
