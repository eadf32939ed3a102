package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/controller/nagiosconf"
	"github.com/labfleet/labfleet/internal/fleet"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newNagiosCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "nagios",
		Short:   "Generate the Nagios Core or Icinga 2 configuration that watches the fleet",
		Example: "  labcontroller -i inventory.ini nagios config --app todo --out /etc/nagios4/conf.d/labfleet",
	}
	c.AddCommand(newNagiosConfigCmd(g))
	return c
}

func newNagiosConfigCmd(g *globals) *cobra.Command {
	o := nagiosconf.Options{}
	var (
		out, format string
		apps        []string
		appPort     int
	)
	cmd := &cobra.Command{
		Use:   "config [--out DIR] [--app NAME[:PORT]]... [--format nagios|icinga2]",
		Short: "Write Nagios (or Icinga 2) hosts, hostgroups, commands and services for the inventory",
		Long: `config turns the inventory into monitoring configuration for labfleet's check_* plugins.
Hosts of --control-group (default "controls") become control hosts, hosts of --group
(default "nodes", narrowed by --limit) nodes; every inventory group holding them becomes a
hostgroup. A node's address is its ansible_host, its agent port labagent_port (7443), its
MariaDB mariadb_host:mariadb_port (default ansible_host:3306).

Nodes get: labagent, node (load, memory, disk), replication (with two nodes or more), and
for each --app: "container APP" and "app APP" (HTTP on the node). The first control host
gets "deploy APP" (version drift), "app APP via haproxy" with --haproxy-frontend and
"haproxy BACKEND" with --haproxy (the admin socket) and --haproxy-backend.

The plugins reach the agents with --ca/--cert/--key, --token-file or --insecure (or the
labagent_* host vars); the config names those paths, the plugin directory, the MariaDB
account and the inventory as $USERn$ macros, listed in resource.cfg.example.

--format nagios writes templates.cfg, commands.cfg, hosts.cfg, services.cfg (for a
cfg_dir such as /etc/nagios4/conf.d/labfleet) and resource.cfg.example; --format icinga2
writes commands.conf (CheckCommands labfleet_<plugin>, arguments labfleet_<plugin>_<param>)
and lab.conf. Without --out the files go to stdout, one after another. The output is
sorted, so re-running it on the same inventory changes nothing.`,
		Example: `  labcontroller -i inventory.ini nagios config --app todo \
      --ca /etc/nagios4/labfleet/ca.crt --cert /etc/nagios4/labfleet/client.crt --key /etc/nagios4/labfleet/client.key \
      --haproxy-frontend 127.0.0.10:80 --haproxy /run/haproxy/admin.sock --haproxy-backend app \
      --deploy-inventory /etc/nagios4/labfleet/inventory.ini --out /etc/nagios4/conf.d/labfleet
  labcontroller -i inventory.ini --insecure nagios config --app todo --app api:9000 --format icinga2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "nagios" && format != "icinga2" {
				return usageErr("--format %q: use nagios or icinga2", format)
			}
			if g.inventory == "" {
				return usageErr("no inventory given: use -i FILE (or set LABFLEET_INVENTORY)")
			}
			if g.haproxy != "" && g.backend == "" {
				return usageErr("--haproxy needs --haproxy-backend NAME (the backend the nodes are servers of)")
			}
			for _, a := range apps {
				app, err := parseApp(a, appPort)
				if err != nil {
					return err
				}
				o.Apps = append(o.Apps, app)
			}
			o.Inventory, o.NodeGroup, o.Limit, o.Conn = g.inventory, g.group, g.limit, g.conn
			o.HAProxySocket, o.HAProxyBackend = g.haproxy, g.backend
			c, err := nagiosconf.Generate(o)
			if errors.Is(err, nagiosconf.ErrOptions) || errors.Is(err, fleet.ErrInventory) {
				return usageErr("%v", err)
			}
			if err != nil {
				return failed{msg: err.Error()}
			}
			for _, w := range c.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "labcontroller: warning: %s\n", w)
			}
			files := c.Nagios()
			if format == "icinga2" {
				files = c.Icinga2()
			}
			if out == "" {
				printConfig(cmd, files)
				return nil
			}
			return writeConfig(cmd, out, files)
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory to write the files into (default: print them)")
	f.StringVar(&format, "format", "nagios", "nagios (Nagios Core 4 object files) or icinga2")
	f.StringArrayVar(&apps, "app", nil, "app to check on every node, NAME or NAME:PORT (repeatable)")
	f.IntVar(&appPort, "app-port", nagiosconf.DefaultAppPort, "port the apps publish on the nodes, for --app without :PORT")
	f.StringVar(&o.AppURI, "app-uri", nagiosconf.DefaultAppURI, "path check_app GETs")
	f.StringVar(&o.AppString, "app-string", "", "text the app's answer must contain")
	f.StringVar(&o.HAProxyFrontend, "haproxy-frontend", "", "HAProxy frontend HOST:PORT: also check the first app through it")
	f.StringVar(&o.ControlGroup, "control-group", nagiosconf.DefaultControlGroup, "inventory group of the control server, which runs Nagios")
	f.StringVar(&o.PluginDir, "plugin-dir", nagiosconf.DefaultPluginDir, "directory of labfleet's check_* plugins on the Nagios server ($USER2$)")
	f.StringVar(&o.MonitoringPluginDir, "monitoring-plugin-dir", nagiosconf.DefaultMonitoringPluginDir, "directory of monitoring-plugins, for check_ping ($USER1$)")
	f.StringVar(&o.DBUser, "db-user", nagiosconf.DefaultDBUser, "MariaDB account of the replication check (needs REPLICA MONITOR)")
	f.StringVar(&o.DBPasswordFile, "db-password-file", nagiosconf.DefaultDBPasswordFile, "file holding that account's password, readable by the nagios user")
	f.StringVar(&o.DeployInventory, "deploy-inventory", "", "inventory path check_deploy reads on the Nagios server (default: -i, made absolute)")
	f.DurationVar(&o.CheckInterval, "check-interval", nagiosconf.DefaultCheckInterval, "how often every host and service is checked")
	f.StringVar(&o.ContactEmail, "contact-email", nagiosconf.DefaultContactEmail, "address the notifications go to")
	return cmd
}

// parseApp reads NAME or NAME:PORT.
func parseApp(s string, defaultPort int) (nagiosconf.App, error) {
	name, port, hasPort := strings.Cut(s, ":")
	a := nagiosconf.App{Name: name, Port: defaultPort}
	if err := agentv1.ValidateAppName("--app", name); err != nil {
		return a, usageErr("%v", err)
	}
	if hasPort {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return a, usageErr("--app %s: %q is not a port number", s, port)
		}
		a.Port = p
	}
	if a.Port < 1 || a.Port > 65535 {
		return a, usageErr("--app-port %d is not a port number", a.Port)
	}
	return a, nil
}

// printConfig prints the files one after another. The object files
// concatenated are one valid config; resource.cfg.example's lines are not
// object definitions, so they come last, commented out.
func printConfig(cmd *cobra.Command, files []nagiosconf.File) {
	w := cmd.OutOrStdout()
	for i, f := range files {
		if i > 0 {
			fmt.Fprintln(w)
		}
		data := string(f.Data)
		if strings.HasSuffix(f.Name, ".example") {
			lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
			for j, l := range lines {
				if !strings.HasPrefix(l, "#") {
					lines[j] = "# " + l
				}
			}
			data = strings.Join(lines, "\n") + "\n"
		}
		fmt.Fprint(w, data)
	}
}

// writeConfig writes the files into dir and says so.
func writeConfig(cmd *cobra.Command, dir string, files []nagiosconf.File) error {
	paths, err := nagiosconf.WriteFiles(dir, files)
	for _, p := range paths {
		fmt.Fprintln(cmd.OutOrStdout(), "wrote", p)
	}
	if err != nil {
		return failed{msg: err.Error()}
	}
	return nil
}
