package nagiosconf

// The plugins and their command lines. Both renderers read this one table:
// Nagios turns it into command_line strings with $ARGn$ for what services
// vary, Icinga 2 into CheckCommand arguments named <command>_<param>.

// Where a parameter's value comes from in the Nagios command definition.
const (
	fromArg   = "ARG"   // a positional $ARGn$ every service gives
	fromExtra = "EXTRA" // passed by services that need it, in the last $ARGn$
)

// param is one option of a plugin.
type param struct {
	name     string // Icinga 2 custom variable suffix: labfleet_<plugin>_<name>
	flag     string
	desc     string
	boolean  bool // a switch without a value (set_if in Icinga 2)
	required bool
	// nagios is the fixed value in the Nagios command line (a macro such
	// as $HOSTADDRESS$ or $USER3$), fromArg or fromExtra.
	nagios string
	// icinga is the CheckCommand's default for the custom variable: a
	// macro naming a host variable, so one host or template setting
	// serves every command.
	icinga string
	// auth marks the agent connection options: the Nagios command lines
	// carry only those the chosen authentication uses.
	auth bool
}

// plugin is one check_* program.
type plugin struct {
	name   string // check_<name>; commands are labfleet_<name>
	desc   string
	params []param
}

func (p plugin) binary() string  { return "check_" + p.name }
func (p plugin) command() string { return "labfleet_" + p.name }

// Resource macros of the Nagios config (resource.cfg). $USER1$ is Debian's
// monitoring-plugins directory, as in Debian's own resource.cfg.
const (
	macroMonitoringPlugins = "$USER1$"
	macroPluginDir         = "$USER2$"
	macroCA                = "$USER3$"
	macroCert              = "$USER4$"
	macroKey               = "$USER5$"
	macroToken             = "$USER6$"
	macroDBUser            = "$USER7$"
	macroDBPasswordFile    = "$USER8$"
	macroInventory         = "$USER9$"
)

// Custom host variables, as Nagios macros and Icinga 2 variables.
const (
	nagiosAgentPort   = "$_HOSTLABAGENT_PORT$"
	nagiosMariaDBHost = "$_HOSTMARIADB_HOST$"
	nagiosMariaDBPort = "$_HOSTMARIADB_PORT$"
)

var timeout = param{name: "timeout", flag: "-t", desc: "seconds before the plugin gives up (UNKNOWN)", nagios: fromExtra}

// authParams are the agent connection options every agent plugin takes.
var authParams = []param{
	{name: "cacert", flag: "--cacert", desc: "CA file the agent's certificate chains to", nagios: macroCA, icinga: "$labfleet_cacert$", auth: true},
	{name: "cert", flag: "--cert", desc: "monitoring client certificate for mTLS (role monitoring, e.g. nagios.crt)", nagios: macroCert, icinga: "$labfleet_cert$", auth: true},
	{name: "key", flag: "--key", desc: "key of the monitoring client certificate", nagios: macroKey, icinga: "$labfleet_key$", auth: true},
	{name: "token_file", flag: "--token-file", desc: "file holding the agents' monitoring bearer token", nagios: macroToken, icinga: "$labfleet_token_file$", auth: true},
	{name: "insecure", flag: "--insecure", desc: "plaintext to an agent on a loopback address", boolean: true, nagios: "--insecure", icinga: "$labfleet_insecure$", auth: true},
}

// agentParams are -H, -p and the connection options.
func agentParams(more ...param) []param {
	ps := []param{
		{name: "hostname", flag: "-H", desc: "labagent host name or address", required: true, nagios: "$HOSTADDRESS$", icinga: "$address$"},
		{name: "port", flag: "-p", desc: "labagent port (default 7443)", nagios: nagiosAgentPort, icinga: "$labfleet_agent_port$"},
	}
	ps = append(ps, authParams...)
	ps = append(ps, timeout)
	return append(ps, more...)
}

var plugins = []plugin{
	{name: "labagent", desc: "labagent answers, its round trip time and version", params: agentParams(
		param{name: "warning", flag: "-w", desc: "round trip time range in seconds for WARNING", nagios: fromArg},
		param{name: "critical", flag: "-c", desc: "round trip time range in seconds for CRITICAL", nagios: fromArg},
		param{name: "min_version", flag: "--min-version", desc: "lowest acceptable labagent version", nagios: fromExtra},
	)},
	{name: "container", desc: "an app's container on a node: running, healthy, restarts, version", params: agentParams(
		param{name: "app", flag: "--app", desc: "app name", required: true, nagios: fromArg},
		param{name: "warning", flag: "-w", desc: "restart count range for WARNING", nagios: fromArg},
		param{name: "critical", flag: "-c", desc: "restart count range for CRITICAL", nagios: fromArg},
		param{name: "min_uptime", flag: "--min-uptime", desc: "WARNING while the container has run for less than this", nagios: fromExtra},
		param{name: "expect_version", flag: "--expect-version", desc: "version the app must run", nagios: fromExtra},
	)},
	{name: "replication", desc: "MariaDB replication connections: threads running, lag", params: []param{
		{name: "hostname", flag: "-H", desc: "MariaDB host", required: true, nagios: nagiosMariaDBHost, icinga: "$labfleet_mariadb_host$"},
		{name: "port", flag: "-P", desc: "MariaDB port (default 3306)", nagios: nagiosMariaDBPort, icinga: "$labfleet_mariadb_port$"},
		{name: "user", flag: "-u", desc: "MariaDB user with REPLICA MONITOR", nagios: macroDBUser, icinga: "$labfleet_db_user$"},
		{name: "password_file", flag: "--password-file", desc: "file holding the MariaDB password", nagios: macroDBPasswordFile, icinga: "$labfleet_db_password_file$"},
		timeout,
		{name: "warning", flag: "-w", desc: "lag range in seconds for WARNING", nagios: fromArg},
		{name: "critical", flag: "-c", desc: "lag range in seconds for CRITICAL", nagios: fromArg},
		{name: "connection", flag: "--connection", desc: "check only this named connection", nagios: fromExtra},
		{name: "min_connections", flag: "--min-connections", desc: "CRITICAL with fewer replication connections", nagios: fromExtra},
		{name: "trx_warning", flag: "--trx-warning", desc: "lag range in transactions (received but not applied) for WARNING", nagios: fromExtra},
		{name: "trx_critical", flag: "--trx-critical", desc: "lag range in transactions (received but not applied) for CRITICAL", nagios: fromExtra},
		{name: "check_errant", flag: "--check-errant", desc: "CRITICAL on errant transactions (this server writing in another's GTID domain)", boolean: true, nagios: fromExtra},
	}},
	{name: "node", desc: "a node's load, memory and disk through its labagent", params: agentParams(
		param{name: "load_warning", flag: "--load-warning", desc: "load average per CPU range for WARNING", nagios: fromArg},
		param{name: "load_critical", flag: "--load-critical", desc: "load average per CPU range for CRITICAL", nagios: fromArg},
		param{name: "mem_warning", flag: "--mem-warning", desc: "memory used range in percent for WARNING", nagios: fromArg},
		param{name: "mem_critical", flag: "--mem-critical", desc: "memory used range in percent for CRITICAL", nagios: fromArg},
		param{name: "disk_warning", flag: "--disk-warning", desc: "disk used range in percent for WARNING", nagios: fromArg},
		param{name: "disk_critical", flag: "--disk-critical", desc: "disk used range in percent for CRITICAL", nagios: fromArg},
		param{name: "mount", flag: "--mount", desc: "mount point whose disk is checked (repeatable; empty: every local filesystem)", nagios: fromArg},
	)},
	{name: "deploy", desc: "every node of the group runs the same version of an app (no drift)", params: append(append([]param{
		{name: "inventory", flag: "-i", desc: "Ansible inventory", required: true, nagios: macroInventory, icinga: "$labfleet_inventory$"},
		{name: "group", flag: "--group", desc: "inventory group of the nodes", nagios: fromArg},
		{name: "app", flag: "--app", desc: "app name", required: true, nagios: fromArg},
		{name: "limit", flag: "--limit", desc: "Ansible host pattern to narrow the group", nagios: fromExtra},
	}, authParams...), timeout)},
	{name: "app", desc: "an app's HTTP endpoint: status, content, version, response time", params: []param{
		{name: "hostname", flag: "-H", desc: "host name or address", required: true, nagios: fromArg, icinga: "$address$"},
		{name: "port", flag: "-p", desc: "port", nagios: fromArg},
		{name: "uri", flag: "-u", desc: "URI to GET", nagios: fromArg},
		{name: "expect", flag: "-e", desc: "expected HTTP status", nagios: fromArg},
		{name: "string", flag: "-s", desc: "string the body must contain", nagios: fromExtra},
		{name: "expect_version", flag: "--expect-version", desc: "version the app must report", nagios: fromExtra},
		{name: "warning", flag: "-w", desc: "response time range in seconds for WARNING", nagios: fromArg},
		{name: "critical", flag: "-c", desc: "response time range in seconds for CRITICAL", nagios: fromArg},
		timeout,
	}},
	{name: "haproxy", desc: "servers UP in an HAProxy backend, through the admin socket", params: []param{
		{name: "socket", flag: "--socket", desc: "HAProxy admin socket: unix path or host:port", required: true, nagios: fromArg},
		{name: "backend", flag: "--backend", desc: "backend name", required: true, nagios: fromArg},
		{name: "warning", flag: "-w", desc: "range of UP servers for WARNING, e.g. 2:", nagios: fromArg},
		{name: "critical", flag: "-c", desc: "range of UP servers for CRITICAL, e.g. 1:", nagios: fromArg},
		timeout,
	}},
}

// pluginNamed returns the plugin called name.
func pluginNamed(name string) plugin {
	for _, p := range plugins {
		if p.name == name {
			return p
		}
	}
	panic("nagiosconf: no plugin " + name)
}
