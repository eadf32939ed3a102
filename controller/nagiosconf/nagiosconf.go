// Package nagiosconf generates the monitoring configuration of a labfleet
// lab from its Ansible inventory: Nagios Core object files (hosts,
// hostgroups, one command per check_* plugin, services, templates, an
// example resource.cfg) or the Icinga 2 equivalent (CheckCommands named the
// ITL way, hosts, apply rules).
//
// Hosts of the control group become control hosts (deploy drift, the app
// through HAProxy, the HAProxy backend are checked from there); hosts of the
// node group become nodes (labagent, node resources, app containers, the
// app on each node, MariaDB replication). The output depends only on the
// inventory and Options and is sorted, so it can be diffed and checked in.
//
// The plugins only read, so the config gives them the monitoring identity
// (the certificate certs init writes as nagios.crt, role monitoring, or the
// monitoring token), never labcontroller's (role deploy): a Nagios server
// holding the controller's certificate could deploy to every node.
//
// It only reads the inventory. It never contacts a node, never reads TLS
// files or passwords (the config names their paths) and writes no files.
package nagiosconf

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labfleet/labfleet/internal/fleet"
	"github.com/labfleet/labfleet/internal/inventory"
	"github.com/labfleet/labfleet/internal/pki"
)

// ErrOptions marks options or inventory contents that cannot make a
// working config.
var ErrOptions = errors.New("invalid options")

// Defaults for the zero values of Options.
const (
	DefaultNodeGroup           = "nodes"
	DefaultControlGroup        = "controls"
	DefaultPluginDir           = "/usr/local/lib/labfleet"
	DefaultMonitoringPluginDir = "/usr/lib/nagios/plugins"
	DefaultAppPort             = 8000
	DefaultAppURI              = "/healthz"
	DefaultDBUser              = "nagios"
	DefaultDBPasswordFile      = "/etc/nagios4/labfleet/mariadb.password"
	DefaultCheckInterval       = time.Minute
	DefaultContactEmail        = "root@localhost"
	DefaultHAProxyBackend      = "app"
)

// Options say what to generate. Zero values take the defaults above.
type Options struct {
	// Inventory is the Ansible inventory file; NodeGroup and ControlGroup
	// name its groups of nodes and control servers; Limit narrows the
	// nodes (an Ansible host pattern) as labcontroller's --limit does.
	Inventory, NodeGroup, ControlGroup, Limit string
	// Conn are the agent TLS files, token file and --insecure the plugins
	// use: the monitoring certificate or token. The inventory fills what
	// is empty: labagent_ca, labagent_insecure, and the monitoring
	// identity from labagent_monitoring_cert, labagent_monitoring_key and
	// labagent_monitoring_token_file; labagent_cert, labagent_key and
	// labagent_token_file are labcontroller's and never used. The paths
	// are made absolute: Nagios runs the plugins from its own directory.
	Conn fleet.Defaults
	// DeployInventory is the inventory path check_deploy reads on the
	// Nagios server; default: Inventory, made absolute.
	DeployInventory string
	// PluginDir holds labfleet's check_* plugins ($USER2$);
	// MonitoringPluginDir holds monitoring-plugins' ($USER1$, for ping).
	PluginDir, MonitoringPluginDir string
	// Apps are the apps to check on every node, each with the port it is
	// published on; AppURI is the path check_app GETs and AppString, if
	// set, text its body must contain.
	Apps              []App
	AppURI, AppString string
	// HAProxyFrontend (host:port), when set, adds a check of the first app
	// through HAProxy. HAProxySocket (the admin socket, a unix path or
	// host:port), when set, adds a check of HAProxyBackend's servers.
	HAProxyFrontend, HAProxySocket, HAProxyBackend string
	// DBUser and DBPasswordFile are the MariaDB account of the replication
	// check (it needs the REPLICA MONITOR privilege).
	DBUser, DBPasswordFile string
	// CheckInterval is how often hosts and services are checked.
	CheckInterval time.Duration
	// ContactEmail receives the notifications.
	ContactEmail string
}

// App is an app to check and the port its container publishes on a node.
type App struct {
	Name string
	Port int
}

// Config is a generated lab configuration, ready to render with Nagios or
// Icinga2.
type Config struct {
	Hosts    []Host      // sorted by name
	Groups   []HostGroup // sorted by name
	Services []Service   // sorted by description, then target
	// Warnings are things the config leaves out, for the user to read.
	Warnings []string

	o    Options
	auth fleet.Defaults
}

// Host is a monitored host.
type Host struct {
	Name    string
	Address string
	Control bool // in the control group
	Node    bool // in the node group
	// AgentPort, MariaDBHost and MariaDBPort are set for nodes.
	AgentPort   int
	MariaDBHost string
	MariaDBPort int
	Groups      []string // the hostgroups it belongs to, sorted
}

// HostGroup is an inventory group, with the monitored hosts in it.
type HostGroup struct {
	Name    string
	Members []string // sorted
}

// Service is a check, assigned to every host of HostGroup or to Host.
type Service struct {
	Description string
	HostGroup   string
	Host        string
	Plugin      string            // e.g. "labagent": check_labagent
	Params      map[string]string // by param name, e.g. "warning"
}

// hostAddress stands for the address of the host a service runs on; each
// renderer writes its own macro for it.
const hostAddress = "\x00address"

// Generate reads the inventory and builds the configuration.
func Generate(o Options) (*Config, error) {
	o, err := withDefaults(o)
	if err != nil {
		return nil, err
	}
	inv, err := fleet.Load(o.Inventory)
	if err != nil {
		return nil, err
	}
	nodes, err := fleet.Select(inv, o.NodeGroup, o.Limit, o.Conn)
	if err != nil {
		return nil, err
	}
	c := &Config{o: o}
	hosts := map[string]*Host{}
	if _, ok := inv.Groups[o.ControlGroup]; ok {
		names, _ := inv.GroupHosts(o.ControlGroup)
		for _, name := range names {
			addr := name
			if v, ok := inv.HostVars(name)["ansible_host"]; ok && fmt.Sprint(v) != "" {
				addr = fmt.Sprint(v)
			}
			hosts[name] = &Host{Name: name, Address: addr, Control: true}
		}
	}
	for i, n := range nodes {
		h, err := nodeHost(n)
		if err != nil {
			return nil, err
		}
		if ctl, ok := hosts[n.Name]; ok {
			h.Control = ctl.Control
		}
		hosts[n.Name] = h
		a, err := nodeAuth(n, o.Conn)
		switch {
		case err != nil:
			return nil, err
		case i == 0:
			c.auth = a
		case a != c.auth:
			return nil, fmt.Errorf("%w: host %s reaches its agent with other TLS files or token than %s; the Nagios commands take one set: give --ca, --cert, --key or --token-file",
				ErrOptions, n.Name, nodes[0].Name)
		}
	}
	switch {
	case c.auth.CertFile == "" && c.auth.TokenFile == "" && !c.auth.Insecure && controllerIdentity(nodes):
		c.Warnings = append(c.Warnings, "the plugins get no client identity: the inventory's labagent_cert/labagent_key/labagent_token_file "+
			"are labcontroller's (role deploy) and never given to them; give the monitoring certificate with --cert/--key "+
			"(certs init writes nagios.crt and nagios.key) or --token-file with the monitoring token, or set the host vars "+
			"labagent_monitoring_cert/labagent_monitoring_key or labagent_monitoring_token_file")
	case c.auth == (fleet.Defaults{}):
		c.Warnings = append(c.Warnings, "no TLS files, token file or --insecure for the agents: the plugins will expect TLS with the system's CAs and send no client identity")
	}
	if err := c.groups(inv, hosts); err != nil {
		return nil, err
	}
	for _, h := range hosts {
		c.Hosts = append(c.Hosts, *h)
	}
	sort.Slice(c.Hosts, func(i, j int) bool { return c.Hosts[i].Name < c.Hosts[j].Name })
	for _, h := range c.Hosts {
		if err := checkName("host", h.Name); err != nil {
			return nil, err
		}
		if err := checkValue("host "+h.Name+" address", h.Address); err != nil {
			return nil, err
		}
	}
	if err := c.services(); err != nil {
		return nil, err
	}
	return c, nil
}

// withDefaults fills in defaults and checks the options.
func withDefaults(o Options) (Options, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.NodeGroup, DefaultNodeGroup)
	def(&o.ControlGroup, DefaultControlGroup)
	def(&o.PluginDir, DefaultPluginDir)
	def(&o.MonitoringPluginDir, DefaultMonitoringPluginDir)
	def(&o.AppURI, DefaultAppURI)
	def(&o.DBUser, DefaultDBUser)
	def(&o.DBPasswordFile, DefaultDBPasswordFile)
	def(&o.ContactEmail, DefaultContactEmail)
	if o.HAProxySocket != "" {
		def(&o.HAProxyBackend, DefaultHAProxyBackend)
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.CheckInterval < time.Second || o.CheckInterval%time.Second != 0 {
		return o, fmt.Errorf("%w: check interval %v: use whole seconds, at least 1s", ErrOptions, o.CheckInterval)
	}
	for _, g := range []string{o.NodeGroup, o.ControlGroup} {
		if g == "all" || g == "ungrouped" {
			return o, fmt.Errorf("%w: group %q: name the inventory group of the nodes and of the control servers, not %q", ErrOptions, g, g)
		}
	}
	if o.DeployInventory == "" && o.Inventory != "" {
		a, err := filepath.Abs(o.Inventory)
		if err != nil {
			return o, fmt.Errorf("%w: inventory %s: %w", ErrOptions, o.Inventory, err)
		}
		o.DeployInventory = a
	}
	seen := map[string]bool{}
	apps := make([]App, 0, len(o.Apps))
	for _, a := range o.Apps {
		if a.Port == 0 {
			a.Port = DefaultAppPort
		}
		if a.Port < 1 || a.Port > 65535 {
			return o, fmt.Errorf("%w: app %s: port %d is not a port number", ErrOptions, a.Name, a.Port)
		}
		if err := checkName("app", a.Name); err != nil {
			return o, err
		}
		if seen[a.Name] {
			return o, fmt.Errorf("%w: app %s given twice", ErrOptions, a.Name)
		}
		seen[a.Name] = true
		apps = append(apps, a)
	}
	o.Apps = apps
	if o.HAProxyFrontend != "" {
		if _, _, err := splitHostPort(o.HAProxyFrontend); err != nil {
			return o, fmt.Errorf("%w: HAProxy frontend %q: want HOST:PORT", ErrOptions, o.HAProxyFrontend)
		}
	}
	for what, v := range map[string]string{"plugin dir": o.PluginDir, "monitoring-plugins dir": o.MonitoringPluginDir,
		"app URI": o.AppURI, "DB user": o.DBUser, "DB password file": o.DBPasswordFile, "contact email": o.ContactEmail,
		"HAProxy socket": o.HAProxySocket, "HAProxy backend": o.HAProxyBackend, "deploy inventory": o.DeployInventory,
		"node group": o.NodeGroup} {
		if err := checkValue(what, v); err != nil {
			return o, err
		}
	}
	// An Ansible pattern needs '!' (web:!web3): nagiosValue escapes it.
	if strings.ContainsAny(o.Limit, " \t\r\n$'\"\\`;") {
		return o, fmt.Errorf("%w: --limit %q: spaces, quotes, backslashes and the characters $ ; ` cannot pass through Nagios' command line", ErrOptions, o.Limit)
	}
	if strings.ContainsAny(o.AppString, "'\"\\!$`\n\r") {
		return o, fmt.Errorf("%w: app string %q: quotes, backslashes, '!', '$' and backticks cannot pass through Nagios' command line", ErrOptions, o.AppString)
	}
	return o, nil
}

// nodeHost is a node's host, with where its agent and MariaDB listen.
func nodeHost(n fleet.Node) (*Host, error) {
	host, port, err := splitHostPort(n.Addr())
	if err != nil {
		return nil, fmt.Errorf("%w: host %s: agent address %q: %w", ErrOptions, n.Name, n.Addr(), err)
	}
	h := &Host{Name: n.Name, Address: host, Node: true, AgentPort: port, MariaDBHost: host, MariaDBPort: 3306}
	if v, ok := n.Vars["mariadb_host"]; ok && fmt.Sprint(v) != "" {
		h.MariaDBHost = fmt.Sprint(v)
	}
	if v, ok := n.Vars["mariadb_port"]; ok {
		p, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%w: host %s: mariadb_port=%v is not a port number", ErrOptions, n.Name, v)
		}
		h.MariaDBPort = p
	}
	if err := checkValue("host "+n.Name+" mariadb_host", h.MariaDBHost); err != nil {
		return nil, err
	}
	return h, nil
}

// nodeAuth is how the plugins reach n's agent, with absolute paths: the
// flags' files, else the inventory's labagent_ca and labagent_monitoring_*
// host vars. A certificate or token that is labcontroller's (the
// inventory's labagent_cert or labagent_token_file, or a file named
// labcontroller.crt) is refused.
func nodeAuth(n fleet.Node, flags fleet.Defaults) (fleet.Defaults, error) {
	a := fleet.Defaults{CAFile: n.Conn.CAFile,
		CertFile:  first(flags.CertFile, hostVar(n, "labagent_monitoring_cert")),
		KeyFile:   first(flags.KeyFile, hostVar(n, "labagent_monitoring_key")),
		TokenFile: first(flags.TokenFile, hostVar(n, "labagent_monitoring_token_file")),
		Insecure:  n.Conn.Insecure}
	for _, p := range []*string{&a.CAFile, &a.CertFile, &a.KeyFile, &a.TokenFile} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return a, fmt.Errorf("%w: %s: %w", ErrOptions, *p, err)
		}
		if err := checkValue("TLS or token file", abs); err != nil {
			return a, err
		}
		*p = abs
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		return a, fmt.Errorf("%w: host %s: a client certificate needs its key and the other way round (--cert and --key)", ErrOptions, n.Name)
	}
	for _, f := range []struct{ got, deployVar, flag, monitoringVar string }{
		{a.CertFile, "labagent_cert", "--cert", "labagent_monitoring_cert"},
		{a.KeyFile, "labagent_key", "--key", "labagent_monitoring_key"},
		{a.TokenFile, "labagent_token_file", "--token-file", "labagent_monitoring_token_file"},
	} {
		controller := filepath.Base(f.got) == pki.DefaultClientName+".crt" || filepath.Base(f.got) == pki.DefaultClientName+".key"
		if d := hostVar(n, f.deployVar); f.got != "" && d != "" {
			if abs, err := filepath.Abs(d); err == nil && abs == f.got {
				controller = true
			}
		}
		if controller {
			return a, fmt.Errorf("%w: host %s: %s is labcontroller's (role deploy, the inventory's %s): the plugins only read, "+
				"give them the monitoring identity with %s (certs init writes nagios.crt and nagios.key) or the host var %s",
				ErrOptions, n.Name, f.got, f.deployVar, f.flag, f.monitoringVar)
		}
	}
	return a, nil
}

// controllerIdentity reports whether the inventory gives any of nodes
// labcontroller's certificate or token.
func controllerIdentity(nodes []fleet.Node) bool {
	for _, n := range nodes {
		for _, k := range []string{"labagent_cert", "labagent_key", "labagent_token_file"} {
			if hostVar(n, k) != "" {
				return true
			}
		}
	}
	return false
}

// hostVar is the host variable k of n as a string, "" when unset.
func hostVar(n fleet.Node, k string) string {
	v, ok := n.Vars[k]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// groups makes a hostgroup of every inventory group holding monitored hosts.
func (c *Config) groups(inv *inventory.Inventory, hosts map[string]*Host) error {
	names := make([]string, 0, len(inv.Groups))
	for name := range inv.Groups {
		if name != "all" && name != "ungrouped" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, g := range names {
		members, _ := inv.GroupHosts(g)
		var in []string
		for _, m := range members {
			if h, ok := hosts[m]; ok {
				in = append(in, m)
				h.Groups = append(h.Groups, g)
			}
		}
		if len(in) == 0 {
			continue
		}
		if err := checkName("group", g); err != nil {
			return err
		}
		sort.Strings(in)
		c.Groups = append(c.Groups, HostGroup{Name: g, Members: in})
	}
	return nil
}

// services lays out the checks.
func (c *Config) services() error {
	o := c.o
	var nodes int
	var control string
	for _, h := range c.Hosts {
		if h.Node {
			nodes++
		}
		if h.Control && control == "" {
			control = h.Name
		}
	}
	onNodes := func(desc, plugin string, params map[string]string) {
		c.Services = append(c.Services, Service{Description: desc, HostGroup: o.NodeGroup, Plugin: plugin, Params: params})
	}
	onNodes("labagent", "labagent", map[string]string{"warning": "1", "critical": "5"})
	onNodes("node", "node", map[string]string{"load_warning": "2", "load_critical": "4", "mem_warning": "85",
		"mem_critical": "95", "disk_warning": "85", "disk_critical": "95", "mount": "/"})
	if nodes > 1 {
		onNodes("replication", "replication", map[string]string{"warning": "60", "critical": "300",
			"min_connections": strconv.Itoa(nodes - 1), "check_errant": "true"})
	}
	for _, a := range o.Apps {
		onNodes("container "+a.Name, "container", map[string]string{"app": a.Name, "warning": "3", "critical": "10"})
		onNodes("app "+a.Name, "app", c.appParams(hostAddress, a.Port))
	}
	onControl := func(desc, plugin string, params map[string]string) {
		c.Services = append(c.Services, Service{Description: desc, Host: control, Plugin: plugin, Params: params})
	}
	if control == "" {
		c.Warnings = append(c.Warnings, fmt.Sprintf("no hosts in inventory group %q: the checks that run from the control server (deploy drift, HAProxy) are left out", o.ControlGroup))
	} else {
		for _, a := range o.Apps {
			p := map[string]string{"group": o.NodeGroup, "app": a.Name}
			if o.Limit != "" {
				p["limit"] = o.Limit
			}
			onControl("deploy "+a.Name, "deploy", p)
		}
		if o.HAProxyFrontend != "" && len(o.Apps) > 0 {
			host, port, _ := splitHostPort(o.HAProxyFrontend)
			onControl("app "+o.Apps[0].Name+" via haproxy", "app", c.appParams(host, port))
		}
		if o.HAProxySocket != "" {
			onControl("haproxy "+o.HAProxyBackend, "haproxy", map[string]string{"socket": o.HAProxySocket,
				"backend": o.HAProxyBackend, "warning": strconv.Itoa(nodes) + ":", "critical": "1:"})
		}
	}
	if o.HAProxyFrontend != "" && len(o.Apps) == 0 {
		c.Warnings = append(c.Warnings, "an HAProxy frontend but no app: give the app whose traffic it carries")
	}
	if len(o.Apps) == 0 {
		c.Warnings = append(c.Warnings, "no apps given: no container, app or deploy checks")
	}
	sort.SliceStable(c.Services, func(i, j int) bool {
		a, b := c.Services[i], c.Services[j]
		if a.Description != b.Description {
			return a.Description < b.Description
		}
		return a.Host+"\x00"+a.HostGroup < b.Host+"\x00"+b.HostGroup
	})
	return nil
}

func (c *Config) appParams(host string, port int) map[string]string {
	p := map[string]string{"hostname": host, "port": strconv.Itoa(port), "uri": c.o.AppURI, "expect": "200",
		"warning": "1", "critical": "5"}
	if c.o.AppString != "" {
		p["string"] = c.o.AppString
	}
	return p
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("%q is not HOST:PORT", addr)
	}
	return host, port, nil
}

// Object names: what Nagios accepts in host, group and service names
// (illegal_object_name_chars) and Icinga 2 in object names, kept simple.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@+-]*$`)

func checkName(what, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %s name %q: use letters, digits and _ . @ + - only", ErrOptions, what, name)
	}
	return nil
}

// checkValue rejects what cannot pass through a Nagios command line
// ('!' separates arguments, '$' starts a macro) or an Icinga 2 string.
func checkValue(what, v string) error {
	if strings.ContainsAny(v, " \t\r\n!$'\"\\`;") {
		return fmt.Errorf("%w: %s %q: spaces, quotes, backslashes and the characters ! $ ; ` cannot be used", ErrOptions, what, v)
	}
	return nil
}
