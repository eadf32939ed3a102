package nagiosconf

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Icinga2 renders the Icinga 2 configuration: commands.conf (a
// CheckCommand per plugin, the same for every lab) and lab.conf (the
// LabfleetPluginDir constant, templates, host groups, hosts and apply
// rules). The host check is the ITL's "hostalive", so the main config must
// include <itl> and <plugins>, as Debian's does.
func (c *Config) Icinga2() []File {
	return []File{
		{"commands.conf", c.icingaCommands()},
		{"lab.conf", c.icingaLab()},
	}
}

// icingaCommands defines labfleet_<plugin> for every plugin. Arguments are
// custom variables labfleet_<plugin>_<param>, the ITL's naming; those that
// describe the host (address, ports, TLS files) default to host variables
// (labfleet_cacert, labfleet_agent_port...) so that one setting on a host or
// template serves every command.
func (c *Config) icingaCommands() []byte {
	var b strings.Builder
	c.header(&b, "//", "commands.conf", "Icinga 2 CheckCommands for labfleet's plugins")
	b.WriteString("// The plugins are in LabfleetPluginDir (lab.conf defines it).\n")
	for _, p := range plugins {
		fmt.Fprintf(&b, "\n// %s: %s.\nobject CheckCommand %q {\n", p.command(), p.desc, p.command())
		fmt.Fprintf(&b, "\tcommand = [ LabfleetPluginDir + %q ]\n\n\targuments = {\n", "/"+p.binary())
		var defaults []string
		for i, q := range p.params {
			v := fmt.Sprintf("$%s_%s$", p.command(), q.name)
			fmt.Fprintf(&b, "\t\t%q = {\n", q.flag)
			if q.boolean {
				fmt.Fprintf(&b, "\t\t\tset_if = %q\n", v)
			} else {
				fmt.Fprintf(&b, "\t\t\tvalue = %q\n", v)
			}
			if q.required {
				b.WriteString("\t\t\trequired = true\n")
			}
			// Options services add after the thresholds come last, as in
			// the Nagios command lines, so both run the same argv.
			order := i + 1
			if q.nagios == fromExtra {
				order += len(p.params)
			}
			fmt.Fprintf(&b, "\t\t\tdescription = %q\n\t\t\torder = %d\n\t\t}\n", q.desc, order)
			if q.icinga != "" {
				defaults = append(defaults, fmt.Sprintf("\tvars.%s_%s = %q\n", p.command(), q.name, q.icinga))
			}
		}
		b.WriteString("\t}\n")
		if len(defaults) > 0 {
			b.WriteString("\n" + strings.Join(defaults, ""))
		}
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

// duration renders d as an Icinga 2 duration literal.
func duration(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}

func (c *Config) icingaLab() []byte {
	var b strings.Builder
	c.header(&b, "//", "lab.conf", "the lab's hosts, host groups and services for Icinga 2")
	fmt.Fprintf(&b, "\nconst LabfleetPluginDir = %q\n", c.o.PluginDir)

	fmt.Fprintf(&b, "\ntemplate Host \"labfleet-host\" {\n\tcheck_command = \"hostalive\"\n")
	fmt.Fprintf(&b, "\tmax_check_attempts = 3\n\tcheck_interval = %s\n\tretry_interval = %s\n\n",
		duration(c.o.CheckInterval), duration(c.retryInterval()))
	b.WriteString("\t// How the plugins reach the agents and MariaDB; the commands read these.\n")
	b.WriteString("\tvars.labfleet_agent_port = 7443\n")
	vars := []struct{ name, value string }{
		{"labfleet_cacert", c.auth.CAFile}, {"labfleet_cert", c.auth.CertFile}, {"labfleet_key", c.auth.KeyFile},
		{"labfleet_token_file", c.auth.TokenFile}, {"labfleet_db_user", c.o.DBUser},
		{"labfleet_db_password_file", c.o.DBPasswordFile}, {"labfleet_inventory", c.o.DeployInventory},
	}
	for _, v := range vars {
		if v.value != "" {
			fmt.Fprintf(&b, "\tvars.%s = %q\n", v.name, v.value)
		}
	}
	if c.auth.Insecure {
		b.WriteString("\tvars.labfleet_insecure = true\n")
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "\ntemplate Service \"labfleet-service\" {\n\tmax_check_attempts = 3\n\tcheck_interval = %s\n\tretry_interval = %s\n}\n",
		duration(c.o.CheckInterval), duration(c.retryInterval()))

	for _, g := range c.Groups {
		fmt.Fprintf(&b, "\nobject HostGroup %q {\n\tdisplay_name = %q\n}\n", g.Name, "inventory group "+g.Name)
	}
	for _, h := range c.Hosts {
		fmt.Fprintf(&b, "\nobject Host %q {\n\timport \"labfleet-host\"\n\taddress = %q\n", h.Name, h.Address)
		fmt.Fprintf(&b, "\tgroups = [ %s ]\n", quoteList(h.Groups))
		if h.Node {
			fmt.Fprintf(&b, "\tvars.labfleet_agent_port = %d\n\tvars.labfleet_mariadb_host = %q\n\tvars.labfleet_mariadb_port = %d\n",
				h.AgentPort, h.MariaDBHost, h.MariaDBPort)
		}
		b.WriteString("}\n")
	}
	for _, s := range c.Services {
		p := pluginNamed(s.Plugin)
		fmt.Fprintf(&b, "\napply Service %q {\n\timport \"labfleet-service\"\n\tcheck_command = %q\n", s.Description, p.command())
		for _, q := range p.params {
			if v, ok := s.Params[q.name]; ok {
				if v == hostAddress {
					v = "$address$"
				}
				fmt.Fprintf(&b, "\tvars.%s_%s = %q\n", p.command(), q.name, v)
			}
		}
		if s.HostGroup != "" {
			fmt.Fprintf(&b, "\tassign where %q in host.groups\n}\n", s.HostGroup)
		} else {
			fmt.Fprintf(&b, "\tassign where host.name == %q\n}\n", s.Host)
		}
	}
	return []byte(b.String())
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
