package cli

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/internal/fleet"
	"github.com/labfleet/labfleet/internal/haproxy"
)

// agentCheckPort is labagent's agent-check port when the inventory names none.
const agentCheckPort = 7444

func newNodeCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "node",
		Short: "Take a node out of HAProxy for patching and put it back once it has caught up",
		Example: `  labcontroller -i inventory.ini --haproxy /run/haproxy/admin.sock --haproxy-backend app node drain node1
  labcontroller -i inventory.ini --haproxy /run/haproxy/admin.sock --haproxy-backend app node ready node1`,
	}
	c.AddCommand(newNodeDrainCmd(g), newNodeReadyCmd(g))
	return c
}

// nodeTarget is one node of the inventory and its HAProxy server.
type nodeTarget struct {
	node   fleet.Node
	server string
	c      *haproxy.Client
}

func (g *globals) nodeTarget(name string) (*nodeTarget, error) {
	if g.haproxy == "" || g.backend == "" {
		return nil, usageErr("node commands act on HAProxy: give --haproxy ADMIN-SOCKET and --haproxy-backend NAME")
	}
	nodes, err := g.nodes()
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.Name == name {
			return &nodeTarget{node: n, server: serverName(n), c: haproxy.New(g.haproxy)}, nil
		}
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return nil, usageErr("no node %q in group %q (it has %s)", name, g.group, strings.Join(names, ", "))
}

func newNodeDrainCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Drain NODE in HAProxy: no new requests, wait for the ones in flight",
		Long: `drain sets NODE's server to DRAIN on HAProxy's admin socket (the state a rolling
deploy uses), so HAProxy sends it no new requests (a backup takes over when NODE was the only
active server), and waits until its sessions have ended. It refuses to drain the last
server that can take traffic unless --force. The node stays drained until
'labcontroller node ready NODE'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := g.nodeTarget(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			servers, err := t.c.Servers(ctx, g.backend)
			if err != nil {
				return failed{msg: fmt.Sprintf("HAProxy at %s: %v", g.haproxy, err)}
			}
			if !force && !otherUsable(servers, t.server) {
				return failed{msg: fmt.Sprintf("%s is the only server of backend %s that can take traffic: draining it would leave no server; fix another node first, or pass --force", t.server, g.backend)}
			}
			if err := t.c.SetState(ctx, g.backend, t.server, "drain"); err != nil {
				return failed{msg: err.Error()}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: draining %s/%s\n", t.node.Name, g.backend, t.server)
			wctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if err := t.c.WaitDrained(wctx, g.backend, t.server, 200*time.Millisecond); err != nil {
				return failed{msg: fmt.Sprintf("%s is drained but still has sessions after %s: %v", t.node.Name, timeout, err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: drained: no sessions left; put it back with: labcontroller node ready %s\n", t.node.Name, t.node.Name)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the sessions in flight to end")
	cmd.Flags().BoolVar(&force, "force", false, "drain even the last server that can take traffic")
	return cmd
}

// otherUsable reports whether a server other than name can take traffic.
func otherUsable(servers []haproxy.Server, name string) bool {
	for _, s := range servers {
		if s.Name != name && s.Healthy() && s.Admin == "ready" && s.Weight > 0 {
			return true
		}
	}
	return false
}

func newNodeReadyCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	var noWait bool
	cmd := &cobra.Command{
		Use:   "ready NODE",
		Short: "Put NODE back into HAProxy once its labagent says it may serve (app healthy, replication caught up)",
		Long: `ready asks NODE's labagent, on the same agent-check port HAProxy asks
(labagent_check_port, default 7444), whether the node may serve: its app healthy and its
MariaDB caught up with every peer. It waits (up to --timeout, printing why) until the
answer is "up 100%", then sets the server READY on HAProxy's admin socket and waits until
HAProxy's health checks pass. --no-wait skips the wait for the agent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := g.nodeTarget(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			if !noWait {
				addr, err := agentCheckAddr(t.node)
				if err != nil {
					return err
				}
				last := ""
				for {
					line, err := readAgentCheck(ctx, addr)
					if err != nil {
						return failed{msg: fmt.Sprintf("%s: labagent's agent-check at %s does not answer (%v): start labagent with --agent-check-listen, or pass --no-wait", t.node.Name, addr, err)}
					}
					if agentCheckReady(line) {
						fmt.Fprintf(out, "%s: %s\n", t.node.Name, esc(line))
						break
					}
					if line != last {
						fmt.Fprintf(out, "%s: not yet: %s\n", t.node.Name, esc(line))
						last = line
					}
					select {
					case <-ctx.Done():
						return failed{msg: fmt.Sprintf("%s did not catch up within %s; its labagent still says: %s", t.node.Name, timeout, esc(line))}
					case <-time.After(500 * time.Millisecond):
					}
				}
			}
			if err := t.c.SetState(ctx, g.backend, t.server, "ready"); err != nil {
				return failed{msg: err.Error()}
			}
			if err := t.c.WaitUp(ctx, g.backend, t.server, 200*time.Millisecond); err != nil {
				return failed{msg: fmt.Sprintf("%s is READY but HAProxy does not see it up: %v", t.node.Name, err)}
			}
			fmt.Fprintf(out, "%s: ready: back in rotation (%s/%s)\n", t.node.Name, g.backend, t.server)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the node to catch up and come up")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "set READY at once, without asking the node's labagent")
	return cmd
}

// agentCheckAddr is where the node's labagent answers HAProxy's agent-check.
func agentCheckAddr(n fleet.Node) (string, error) {
	host, _, err := net.SplitHostPort(n.Addr())
	if err != nil {
		return "", asUsage(fmt.Errorf("host %s: %w", n.Name, err))
	}
	port := agentCheckPort
	if v, ok := n.Vars["labagent_check_port"]; ok {
		p, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil || p < 1 || p > 65535 {
			return "", usageErr("host %s: labagent_check_port=%v is not a port", n.Name, v)
		}
		port = p
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// readAgentCheck reads the one line an agent-check answers.
func readAgentCheck(ctx context.Context, addr string) (string, error) {
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// agentCheckReady reports whether an agent-check answer lets the node
// serve at its full weight ("up 100% #...").
func agentCheckReady(line string) bool {
	words := strings.Fields(strings.SplitN(line, "#", 2)[0])
	return len(words) == 2 && words[0] == "up" && words[1] == "100%"
}
