package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/controller/haproxyconf"
)

func newHAProxyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "haproxy",
		Short:   "Generate the HAProxy backend for the inventory's nodes",
		Example: "  labcontroller -i inventory.ini haproxy config --port 8000 --agent-check",
	}
	c.AddCommand(newHAProxyConfigCmd(g))
	return c
}

func newHAProxyConfigCmd(g *globals) *cobra.Command {
	var (
		o          haproxyconf.Options
		io         haproxyconf.InventoryOptions
		bin        string
		skipVerify bool
	)
	cmd := &cobra.Command{
		Use:   "config --port PORT [--agent-check] [--backend app]",
		Short: "Print the HAProxy backend block for the nodes, checked with haproxy -c",
		Long: `config prints a backend with one server per node of --group (narrowed by --limit):
the node's ansible_host and the app's port (--port, or the host var app_port). A host with
haproxy_backup=true is a backup server, which HAProxy sends traffic to only when no active
server is usable: the seed's design, where node1 serves and node2 takes over. Without any
backup host the backend balances round robin over all nodes.

With --agent-check every server also asks its node's labagent (started with
--agent-check-listen, port labagent_check_port, default 7444) whether it may serve: up only
while the app's container is healthy and, where the agent manages MariaDB, replication has
caught up, so that a node back from an outage gets traffic only once its database has
applied what its peer wrote meanwhile.

The block is checked with haproxy -c before it is printed (--haproxy-bin; --no-verify
skips that on a machine without HAProxy). Paste it into haproxy.cfg, or write it with
shell redirection, and reload HAProxy.`,
		Example: `  labcontroller -i inventory.ini haproxy config --port 8000 --agent-check
  labcontroller -i inventory.ini haproxy config --port 8000 --backend todo > /etc/haproxy/conf.d/todo.cfg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			servers, err := haproxyconf.FromInventory(nodes, io)
			if err != nil {
				return asUsage(err)
			}
			block, err := haproxyconf.Backend(o, servers)
			if err != nil {
				return asUsage(err)
			}
			if !skipVerify {
				if err := haproxyconf.Check(cmd.Context(), bin, block); err != nil {
					return failed{msg: err.Error()}
				}
			}
			fmt.Fprint(cmd.OutOrStdout(), block)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&io.AppPort, "port", 0, "the app's port on every node (a host var app_port overrides it)")
	f.BoolVar(&io.AgentCheck, "agent-check", false, "ask each node's labagent (agent-check) whether the node may serve")
	f.StringVar(&o.Backend, "backend", "app", "backend name")
	f.StringVar(&o.HealthPath, "health-path", "/healthz", "HTTP path of the app's health check")
	f.DurationVar(&o.Inter, "inter", time.Second, "health check interval")
	f.DurationVar(&o.AgentInter, "agent-inter", 2*time.Second, "agent-check interval")
	f.StringVar(&bin, "haproxy-bin", "haproxy", "the haproxy program that checks the block")
	f.BoolVar(&skipVerify, "no-verify", false, "print the block without checking it with haproxy -c")
	return cmd
}
