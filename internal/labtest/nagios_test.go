package labtest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// smokeObjects is a self-contained object config: a TCP check against addr,
// a plugin with long output and perfdata, and a host that is always UP.
func smokeObjects(addr, linesPlugin string) string {
	host, port, _ := net.SplitHostPort(addr)
	return NagiosBaseObjects + fmt.Sprintf(`
define command {
    command_name    smoke_tcp
    command_line    $USER1$/check_tcp -H $ARG1$ -p $ARG2$ -t 5
}
define command {
    command_name    smoke_dummy
    command_line    $USER1$/check_dummy $ARG1$ "$ARG2$"
}
define command {
    command_name    smoke_lines
    command_line    %s
}
define command {
    command_name    smoke_env
    command_line    /bin/sh -c 'echo "OK - env $LABTEST_NAGIOS_ENV"'
}
define host {
    host_name           box
    address             %s
    check_command       smoke_dummy!0!box is up
    max_check_attempts  1
    check_period        always
    contacts            nobody
    notification_period always
}
define service {
    host_name           box
    service_description tcp
    check_command       smoke_tcp!$HOSTADDRESS$!%s
    max_check_attempts  2
    check_interval      5
    retry_interval      1
    check_period        always
    contacts            nobody
    notification_period always
}
define service {
    host_name           box
    service_description env
    check_command       smoke_env
    max_check_attempts  1
    check_period        always
    contacts            nobody
    notification_period always
}
define service {
    host_name           box
    service_description lines
    check_command       smoke_lines
    max_check_attempts  1
    check_period        always
    contacts            nobody
    notification_period always
}
`, linesPlugin, host, port)
}

func TestStartNagios_ForcedChecksUpdateStatusAndStateChangesShow(t *testing.T) {
	ip := LoopbackIP()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	go acceptAll(l)
	lines := filepath.Join(t.TempDir(), "check_lines")
	script := "#!/bin/sh\nprintf '%s\\n' 'OK - first line | a=1;2;3' 'second line with a \\ backslash' 'third line | b=2s'\n"
	if err := os.WriteFile(lines, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	n := StartNagios(t, NagiosOptions{Objects: smokeObjects(addr, lines), ManualChecks: true,
		Env: []string{"LABTEST_NAGIOS_ENV=passed"}})

	st := n.Status(t)
	if s, ok := st.Service("box", "tcp"); !ok || s.HasBeenChecked {
		t.Fatalf("before any forced check, with ManualChecks: %v (found %v)", s, ok)
	}
	if st.Program["nagios_pid"] == "" {
		t.Errorf("programstatus has no nagios_pid: %v", st.Program)
	}

	h := n.CheckHost(t, "box", 15*time.Second)
	if h.State() != "UP" || h.PluginOutput != "OK: box is up" {
		t.Errorf("host check: %s", h)
	}

	ok := n.CheckService(t, "box", "tcp", 15*time.Second)
	if ok.State() != "OK" || !ok.Hard() || !strings.HasPrefix(ok.PluginOutput, "TCP OK") || !strings.HasPrefix(ok.PerformanceData, "time=") {
		t.Fatalf("listener open: %s", ok)
	}

	// The port closes: CRITICAL, SOFT on the first of two attempts, then
	// HARD, each seen only after a forced check.
	l.Close()
	soft := n.CheckService(t, "box", "tcp", 15*time.Second)
	if soft.State() != "CRITICAL" || soft.Hard() || soft.CurrentAttempt != 1 {
		t.Fatalf("first check after the listener closed: %s", soft)
	}
	hard := n.CheckService(t, "box", "tcp", 15*time.Second)
	if hard.State() != "CRITICAL" || !hard.Hard() || hard.LastStateChange.Before(ok.LastCheck) {
		t.Fatalf("second check after the listener closed: %s", hard)
	}
	if !strings.Contains(n.Log(), "SERVICE ALERT: box;tcp;CRITICAL;HARD;2;") {
		t.Errorf("nagios.log has no HARD CRITICAL alert:\n%s", n.Log())
	}

	// It comes back: OK again.
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	go acceptAll(l2)
	if back := n.CheckService(t, "box", "tcp", 15*time.Second); back.State() != "OK" || !back.Hard() {
		t.Fatalf("listener open again: %s", back)
	}

	out := n.CheckService(t, "box", "lines", 15*time.Second)
	if out.PluginOutput != "OK - first line" || out.LongPluginOutput != "second line with a \\ backslash\nthird line" ||
		strings.Join(strings.Fields(out.PerformanceData), " ") != "a=1;2;3 b=2s" || out.PerfData()["b"] != "2s" {
		t.Errorf("multi-line output: output %q long %q perfdata %q", out.PluginOutput, out.LongPluginOutput, out.PerformanceData)
	}
	if env := n.CheckService(t, "box", "env", 15*time.Second); env.PluginOutput != "OK - env passed" {
		t.Errorf("checks do not see NagiosOptions.Env: %s", env)
	}
}

func acceptAll(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func TestVerifyNagios_ReportsObjectErrors(t *testing.T) {
	n := newNagios(t, NagiosOptions{Objects: "define service {\n  host_name nowhere\n  service_description x\n}\n"})
	out, ok := VerifyNagiosConfig(t, n.Config)
	if ok || !strings.Contains(out, "Error") {
		t.Fatalf("nagios4 -v accepted a service on an unknown host:\n%s", out)
	}
}

func TestParseNagiosStatus_BlocksAndEscapes(t *testing.T) {
	st, err := ParseNagiosStatus(`# comment
info {
	created=1
	}

programstatus {
	nagios_pid=42
	}

hoststatus {
	host_name=node1
	current_state=1
	state_type=0
	has_been_checked=1
	last_check=1700000000
	plugin_output=PING CRITICAL - Packet loss = 100%
	}

servicestatus {
	host_name=node1
	service_description=replication
	current_state=2
	state_type=1
	current_attempt=3
	max_attempts=3
	has_been_checked=1
	last_check=1700000001
	plugin_output=REPLICATION CRITICAL: connection 'node2' IO thread No
	long_plugin_output=Last_IO_Error: a=b\nC:\\path
	performance_data='node2 lag'=U;30;300 'it''s'=1s;;;0  x=3
	}
`)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := st.Service("node1", "replication")
	if !ok || s.State() != "CRITICAL" || !s.Hard() || s.CurrentAttempt != 3 || s.LastCheck.Unix() != 1700000001 ||
		s.LongPluginOutput != "Last_IO_Error: a=b\nC:\\path" || s.PerfData()["node2 lag"] != "U;30;300" ||
		s.PerfData()["it's"] != "1s;;;0" || s.PerfData()["x"] != "3" || len(s.PerfData()) != 3 {
		t.Errorf("service: %s", s)
	}
	h, ok := st.Host("node1")
	if !ok || h.State() != "DOWN" || h.Hard() || h.PluginOutput != "PING CRITICAL - Packet loss = 100%" {
		t.Errorf("host: %s", h)
	}
	if st.Program["nagios_pid"] != "42" {
		t.Errorf("programstatus: %v", st.Program)
	}
	if _, err := ParseNagiosStatus("hoststatus {\n\thost_name=x\n"); err == nil {
		t.Error("an unclosed block parsed")
	}
}
