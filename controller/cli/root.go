// Package cli is labcontroller's command line: one file per verb. Each verb
// binds its flags into a request, calls the agents through fleet, and prints
// what happened. Exit codes: 0 success, 1 the operation failed, 2 usage.
//
// What agents send is data: it is escaped before it reaches a terminal
// (see esc), and every call to an agent has a deadline.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/internal/fleet"
	"github.com/labfleet/labfleet/internal/version"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	exitUnknown = 1
)

// usageError is a command line that cannot work: Main prints it as it is
// and exits 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErr makes a usage error from a message that names the flag and the
// expected form.
func usageErr(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// asUsage marks err (e.g. a bad inventory or flag value) as a usage error.
func asUsage(err error) error { return &usageError{err: err} }

// failed is an operation that ran and failed; its message is already printed.
type failed struct{ msg string }

func (f failed) Error() string { return f.msg }

// undetermined is a check that could not reach a verdict (a node did not
// answer): exit 2, so that a CI gate tells it from "diverged" (1).
type undetermined struct{ err error }

func (u undetermined) Error() string { return u.err.Error() }
func (u undetermined) Unwrap() error { return u.err }

// globals are the flags every command shares.
type globals struct {
	inventory string
	group     string
	limit     string
	conn      fleet.Defaults
	timeout   time.Duration
	output    string
	haproxy   string
	backend   string
}

// nodes resolves the selected nodes; inventory problems are usage errors.
func (g *globals) nodes() ([]fleet.Node, error) {
	ns, err := fleet.Resolve(g.inventory, g.group, g.limit, g.conn)
	if err != nil {
		return nil, asUsage(err)
	}
	return ns, nil
}

// Main runs labcontroller with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	stdout, stderr = termWriter{stdout}, termWriter{stderr}
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, new(failed)):
		if m := err.Error(); m != "" {
			fmt.Fprintf(stderr, "labcontroller: %s\n", m)
		}
		return ExitFailed
	case errors.As(err, new(*usageError)), errors.As(err, new(undetermined)):
		fmt.Fprintf(stderr, "labcontroller: %s\n", err)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "labcontroller: %v\n", err)
		return exitUnknown
	}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "labcontroller",
		Short: "Deploy to and watch a small fleet of Docker hosts through their labagents",
		Long: `labcontroller runs on the control server. It reads the lab's Ansible inventory,
talks to the labagent on every node over gRPC (mTLS or a token over TLS), and
deploys, rolls back, sets up MariaDB replication and reports status.

Nodes are the hosts of --group (default "nodes") in the inventory, narrowed by
--limit (an Ansible host pattern). A node's address is its ansible_host (or its
inventory name) and its agent port is labagent_port (default 7443). TLS files and
the token come from the flags, or from the host vars labagent_ca, labagent_cert,
labagent_key and labagent_token_file.`,
		Example: `  labcontroller -i inventory.ini info
  labcontroller -i inventory.ini --limit node1 info --ca certs/ca.crt --cert certs/labcontroller.crt --key certs/labcontroller.key
  labcontroller certs init --dir certs --hosts node1=127.0.0.11,node2=127.0.0.12`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return asUsage(err) })
	pf := root.PersistentFlags()
	pf.StringVarP(&g.inventory, "inventory", "i", os.Getenv("LABFLEET_INVENTORY"), "Ansible inventory file, INI or YAML (env LABFLEET_INVENTORY)")
	pf.StringVar(&g.group, "group", "nodes", "inventory group whose hosts run labagent")
	pf.StringVarP(&g.limit, "limit", "l", "", "Ansible host pattern to narrow the nodes, e.g. node1 or 'nodes:!node2'")
	pf.StringVar(&g.conn.CAFile, "ca", os.Getenv("LABFLEET_CA"), "CA that agent certificates chain to (env LABFLEET_CA)")
	pf.StringVar(&g.conn.CertFile, "cert", os.Getenv("LABFLEET_CERT"), "client certificate for mTLS (env LABFLEET_CERT)")
	pf.StringVar(&g.conn.KeyFile, "key", os.Getenv("LABFLEET_KEY"), "client key for mTLS (env LABFLEET_KEY)")
	pf.StringVar(&g.conn.TokenFile, "token-file", os.Getenv("LABFLEET_TOKEN_FILE"), "file holding the agents' bearer token (env LABFLEET_TOKEN_FILE)")
	pf.BoolVar(&g.conn.Insecure, "insecure", false, "plaintext to agents on loopback addresses (the one-machine lab)")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "deadline for each agent call")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&g.haproxy, "haproxy", os.Getenv("LABFLEET_HAPROXY"), "HAProxy admin socket (unix path or host:port) in front of the nodes (env LABFLEET_HAPROXY)")
	pf.StringVar(&g.backend, "haproxy-backend", os.Getenv("LABFLEET_HAPROXY_BACKEND"), "HAProxy backend whose servers are the nodes (env LABFLEET_HAPROXY_BACKEND)")

	root.AddCommand(newInfoCmd(g), newCertsCmd(), newDeployCmd(g), newRollbackCmd(g), newHistoryCmd(g), newStatusCmd(g), newReplicationCmd(g), newNagiosCmd(g), newHAProxyCmd(g), newNodeCmd(g))
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	strictArgs(root)
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
	}
	return root
}

// strictArgs makes every wrong command line under c a usage error (exit 2,
// one line, with where to look): an unknown command, arguments a command
// does not take, and a command group (certs, nagios, replication) given
// no subcommand, which cobra would answer with its help and exit 0.
func strictArgs(c *cobra.Command) {
	switch {
	case c.HasSubCommands() && !c.Runnable():
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			if len(args) == 0 {
				return usageErr("%s needs a command: %s (see '%s --help')", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
			}
			return usageErr("unknown command %q for %s; its commands are %s (see '%s --help')",
				args[0], cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
		}
	case c.Args != nil:
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageErr("%v (see '%s --help')", err, cmd.CommandPath())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		strictArgs(sub)
	}
}

func checkOutput(g *globals) error {
	if g.output != "table" && g.output != "json" {
		return usageErr("--output %q: use table or json", g.output)
	}
	return nil
}
