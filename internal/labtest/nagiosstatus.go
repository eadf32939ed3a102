package labtest

// Reading Nagios Core's status.dat: the state, output and perfdata of every
// host and service, as the tests and the lab story check them.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NagiosStatus is what status.dat says.
type NagiosStatus struct {
	Hosts    []HostStatus
	Services []ServiceStatus
	// Program is the programstatus block (nagios_pid, enable_notifications...).
	Program map[string]string
}

// CheckStatus is what status.dat says about the last check of a host or a
// service.
type CheckStatus struct {
	HostName string
	// CurrentState is the plugin's state: for services 0 OK, 1 WARNING,
	// 2 CRITICAL, 3 UNKNOWN; for hosts 0 UP, 1 DOWN, 2 UNREACHABLE.
	CurrentState int
	// StateType is 0 for a SOFT state (still retrying), 1 for HARD.
	StateType        int
	CurrentAttempt   int
	MaxAttempts      int
	PluginOutput     string // first line of the output, before "|"
	LongPluginOutput string // the other lines, unescaped
	PerformanceData  string // every perfdata part, joined by spaces
	LastCheck        time.Time
	LastStateChange  time.Time
	HasBeenChecked   bool
	// Fields holds every key of the block as written (escaped).
	Fields map[string]string
}

// HostStatus is one hoststatus block.
type HostStatus struct{ CheckStatus }

// ServiceStatus is one servicestatus block.
type ServiceStatus struct {
	CheckStatus
	ServiceDescription string
}

// PerfData splits PerformanceData into its data, by label (unquoted):
// "value[UOM];warn;crit;min;max" as the plugin wrote it.
func (c CheckStatus) PerfData() map[string]string {
	out := map[string]string{}
	s := strings.TrimSpace(c.PerformanceData)
	for s != "" {
		var label string
		if strings.HasPrefix(s, "'") {
			// A quoted label may hold spaces; '' is a literal quote.
			i := 1
			for i < len(s) && (s[i] != '\'' || (i+1 < len(s) && s[i+1] == '\'')) {
				if s[i] == '\'' {
					i++
				}
				i++
			}
			label = strings.ReplaceAll(s[1:min(i, len(s))], "''", "'")
			s = s[min(i+1, len(s)):]
		} else {
			i := strings.IndexAny(s, "= ")
			if i < 0 {
				i = len(s)
			}
			label, s = s[:i], s[i:]
		}
		value, rest, _ := strings.Cut(strings.TrimPrefix(s, "="), " ")
		out[label] = value
		s = strings.TrimSpace(rest)
	}
	return out
}

// Hard reports whether the state is HARD.
func (c CheckStatus) Hard() bool { return c.StateType == 1 }

// State names a service state: OK, WARNING, CRITICAL or UNKNOWN.
func (s ServiceStatus) State() string {
	if s.CurrentState >= 0 && s.CurrentState <= 3 {
		return [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}[s.CurrentState]
	}
	return strconv.Itoa(s.CurrentState)
}

// State names a host state: UP, DOWN or UNREACHABLE.
func (h HostStatus) State() string {
	if h.CurrentState >= 0 && h.CurrentState <= 2 {
		return [...]string{"UP", "DOWN", "UNREACHABLE"}[h.CurrentState]
	}
	return strconv.Itoa(h.CurrentState)
}

func (c CheckStatus) describe(state string) string {
	typ := "SOFT"
	if c.Hard() {
		typ = "HARD"
	}
	s := fmt.Sprintf("%s %s %d/%d checked=%v last_check=%d output=%q", state, typ, c.CurrentAttempt, c.MaxAttempts,
		c.HasBeenChecked, c.LastCheck.Unix(), c.PluginOutput)
	if c.LongPluginOutput != "" {
		s += fmt.Sprintf(" long=%q", c.LongPluginOutput)
	}
	if c.PerformanceData != "" {
		s += fmt.Sprintf(" perfdata=%q", c.PerformanceData)
	}
	return s
}

// String is for failure messages.
func (s ServiceStatus) String() string {
	return s.HostName + "/" + s.ServiceDescription + ": " + s.describe(s.State())
}

// String is for failure messages.
func (h HostStatus) String() string { return h.HostName + ": " + h.describe(h.State()) }

// Service returns host's service.
func (st *NagiosStatus) Service(host, service string) (ServiceStatus, bool) {
	for _, s := range st.Services {
		if s.HostName == host && s.ServiceDescription == service {
			return s, true
		}
	}
	return ServiceStatus{}, false
}

// Host returns a host.
func (st *NagiosStatus) Host(host string) (HostStatus, bool) {
	for _, h := range st.Hosts {
		if h.HostName == host {
			return h, true
		}
	}
	return HostStatus{}, false
}

// ParseNagiosStatus parses the text of a status.dat: blocks of
// "name {" lines, "\tkey=value" lines and a "\t}" line. Nagios writes the
// newlines and backslashes inside long_plugin_output as \n and \\.
func ParseNagiosStatus(text string) (*NagiosStatus, error) {
	st := &NagiosStatus{}
	var kind string
	var fields map[string]string
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case fields == nil && strings.HasSuffix(line, "{"):
			kind = strings.TrimSpace(strings.TrimSuffix(line, "{"))
			fields = map[string]string{}
		case fields != nil && line == "}":
			st.add(kind, fields)
			fields = nil
		case fields != nil:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("status.dat line %d: %q is not key=value", i+1, line)
			}
			fields[k] = v
		default:
			return nil, fmt.Errorf("status.dat line %d: %q outside a block", i+1, line)
		}
	}
	if fields != nil {
		return nil, fmt.Errorf("status.dat: block %q not closed", kind)
	}
	return st, nil
}

func (st *NagiosStatus) add(kind string, f map[string]string) {
	switch kind {
	case "programstatus":
		st.Program = f
	case "hoststatus":
		st.Hosts = append(st.Hosts, HostStatus{checkStatus(f)})
	case "servicestatus":
		st.Services = append(st.Services, ServiceStatus{CheckStatus: checkStatus(f), ServiceDescription: f["service_description"]})
	}
}

func checkStatus(f map[string]string) CheckStatus {
	num := func(k string) int { v, _ := strconv.Atoi(f[k]); return v }
	at := func(k string) time.Time {
		if v, _ := strconv.ParseInt(f[k], 10, 64); v > 0 {
			return time.Unix(v, 0)
		}
		return time.Time{}
	}
	return CheckStatus{
		HostName:         f["host_name"],
		CurrentState:     num("current_state"),
		StateType:        num("state_type"),
		CurrentAttempt:   num("current_attempt"),
		MaxAttempts:      num("max_attempts"),
		PluginOutput:     f["plugin_output"],
		LongPluginOutput: unescapeStatus(f["long_plugin_output"]),
		PerformanceData:  f["performance_data"],
		LastCheck:        at("last_check"),
		LastStateChange:  at("last_state_change"),
		HasBeenChecked:   f["has_been_checked"] == "1",
		Fields:           f,
	}
}

// unescapeStatus undoes Nagios' escaping of \n and \\ in status.dat.
func unescapeStatus(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
