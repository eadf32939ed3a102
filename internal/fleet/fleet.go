// Package fleet turns the Ansible inventory and the controller's flags into
// the list of agents to talk to, and talks to them in parallel. It never
// changes anything on a node by itself; commands decide what to call.
//
// labcontroller, check_deploy and the Ansible dynamic inventory all use it,
// so a node is reached the same way whichever front end asks.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/inventory"
)

// ErrInventory marks a problem with the inventory or the selection of nodes.
var ErrInventory = errors.New("inventory")

// Defaults are the connection settings given as flags; host vars fill what
// the flags leave empty.
type Defaults struct {
	CAFile, CertFile, KeyFile, TokenFile string
	Insecure                             bool
	// Spelling is how the front end names these options in errors.
	Spelling agentclient.Spelling
	// Monitoring takes the client identity from the host vars
	// labagent_monitoring_cert, _key and _token_file, never from
	// labagent_cert, _key and _token_file, which are labcontroller's
	// deploy identity: the Nagios plugins must not hold it.
	Monitoring bool
}

// Node is one agent to talk to.
type Node struct {
	Name string
	Conn agentclient.Options
	// Vars are the host's effective inventory variables.
	Vars map[string]any
}

// Addr is the agent's HOST:PORT.
func (n Node) Addr() string { return n.Conn.Addr }

// Load reads the inventory at path for Select; the error says how to give
// one when path is empty.
func Load(path string) (*inventory.Inventory, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no inventory given: use -i FILE (or set LABFLEET_INVENTORY)", ErrInventory)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInventory, err)
	}
	return inv, nil
}

// Resolve is Load followed by Select, for callers that need nothing else
// from the inventory.
func Resolve(path, group, limit string, d Defaults) ([]Node, error) {
	inv, err := Load(path)
	if err != nil {
		return nil, err
	}
	return Select(inv, group, limit, d)
}

// Select picks group's hosts from a parsed inventory, filtered by the
// Ansible host pattern limit, and works out how to reach each agent:
// address = ansible_host or the inventory name, port = labagent_port (7443),
// TLS files and token from flags or labagent_ca/cert/key/token_file vars.
// Callers that also read other groups or variables parse the file once and
// pass it here.
func Select(inv *inventory.Inventory, group, limit string, d Defaults) ([]Node, error) {
	path := inv.Source
	hosts, err := inv.Select(group, limit)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInventory, path, err)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("%w: %s: no hosts in group %q match --limit %q", ErrInventory, path, group, limit)
	}
	nodes := make([]Node, 0, len(hosts))
	for _, h := range hosts {
		vars := inv.HostVars(h)
		n, err := node(h, vars, d)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: host %s: %w", ErrInventory, path, h, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func node(name string, vars map[string]any, d Defaults) (Node, error) {
	host := str(vars["ansible_host"])
	if host == "" {
		host = name
	}
	port := agentclient.DefaultPort
	if v, ok := vars["labagent_port"]; ok {
		p, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil || p < 1 || p > 65535 {
			return Node{}, fmt.Errorf("labagent_port=%v is not a port number", v)
		}
		port = p
	}
	prefix := "labagent_"
	if d.Monitoring {
		prefix = "labagent_monitoring_"
	}
	o := agentclient.Options{
		Addr:       net.JoinHostPort(host, strconv.Itoa(port)),
		CAFile:     first(d.CAFile, str(vars["labagent_ca"])),
		CertFile:   first(d.CertFile, str(vars[prefix+"cert"])),
		KeyFile:    first(d.KeyFile, str(vars[prefix+"key"])),
		TokenFile:  first(d.TokenFile, str(vars[prefix+"token_file"])),
		ServerName: str(vars["labagent_server_name"]),
		Insecure:   d.Insecure || truthy(vars["labagent_insecure"]),
		Spelling:   d.Spelling,
	}
	return Node{Name: name, Conn: o, Vars: vars}, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// truthy reads a boolean the way Ansible users write one: the true values
// of Ansible's bool filter, in any case ("Yes" and "TRUE" stay strings in an
// INI inventory).
func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "yes", "y", "true", "t", "1", "on":
			return true
		}
	case int:
		return t != 0
	}
	return false
}

// Result is what one node answered.
type Result[T any] struct {
	Node  Node
	Value T
	Err   error
}

// Each calls fn for every node in parallel, each with its own connection,
// and returns the results in node order. It sets no deadline of its own:
// ctx's, if any, bounds every call (and an agent call without any gets
// agentclient.DefaultCallDeadline); EachWithin gives each node its own. A
// failed call's error is an *agentclient.CallError naming the node's agent
// (it keeps the gRPC status); a node whose options cannot work has an
// *agentclient.OptionError.
func Each[T any](ctx context.Context, nodes []Node, fn func(ctx context.Context, c *agentclient.Conn) (T, error)) []Result[T] {
	return EachWithin(ctx, nodes, 0, fn)
}

// EachWithin is Each with a deadline per node: fn's context for each node
// ends timeout after that node's call starts (zero: no per-node deadline),
// so one slow node cannot hold up the report of the others.
func EachWithin[T any](ctx context.Context, nodes []Node, timeout time.Duration, fn func(ctx context.Context, c *agentclient.Conn) (T, error)) []Result[T] {
	out := make([]Result[T], len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		out[i].Node = n
		wg.Go(func() {
			c, err := agentclient.Dial(n.Conn)
			if err != nil {
				out[i].Err = err
				return
			}
			defer c.Close()
			nctx := ctx
			if timeout > 0 {
				var cancel context.CancelFunc
				nctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			v, err := fn(nctx, c)
			out[i].Value, out[i].Err = v, c.Explain(err)
		})
	}
	wg.Wait()
	return out
}
