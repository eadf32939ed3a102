package labtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NagiosOptions tunes StartNagios and VerifyNagios.
type NagiosOptions struct {
	// ObjectDirs become cfg_dir lines (Nagios reads every *.cfg below
	// them), ObjectFiles cfg_file lines.
	ObjectDirs  []string
	ObjectFiles []string
	// Objects is object configuration written to a file of its own and
	// loaded after the others: a test's own commands, hosts or services.
	Objects string
	// Resource sets $USERn$ macros; keys are "USER2" or "$USER2$". $USER1$
	// defaults to Debian's monitoring-plugins directory,
	// /usr/lib/nagios/plugins.
	Resource map[string]string
	// ResourceFiles are extra resource_file lines, e.g. a checked-in
	// resource.cfg.example; Resource is written after them and wins.
	ResourceFiles []string
	// IntervalLength is Nagios' interval_length: how long one unit of
	// check_interval and retry_interval lasts. Default 60s, as in
	// production, so configured checks run rarely and tests force the
	// checks they look at; 1s makes a config's "check_interval 1" a
	// check every second.
	IntervalLength time.Duration
	// ManualChecks turns scheduled active checks off
	// (execute_service_checks=0, execute_host_checks=0): only the checks a
	// test forces run, so every result in status.dat is one the test asked
	// for. Forced checks run regardless.
	ManualChecks bool
	// Notifications enables notifications (off by default so that a test
	// instance never runs a notify command such as mail).
	Notifications bool
	// Main holds extra main config lines ("key=value"), written last.
	Main []string
	// Env is added to Nagios' environment, which its checks inherit.
	Env []string
}

// Nagios is a Nagios Core process started for a test, with a private main
// config, status file, command file and log in Dir.
type Nagios struct {
	Dir         string
	Config      string // main config file
	StatusFile  string // status.dat
	CommandFile string // external command FIFO
	LogFile     string // nagios.log

	cmd      *exec.Cmd
	out      *syncBuffer // stdout and stderr
	exited   chan struct{}
	exitErr  error
	stopOnce sync.Once
}

// StartNagios writes a main config for o into a fresh temp dir, checks it
// with `nagios4 -v` (failing the test with its output on an error), runs
// `nagios4 CFG` in the foreground and waits until status.dat is written and
// the command file accepts commands. Nagios runs as the test's own user
// (nagios_user and nagios_group are its numeric ids, which Nagios accepts,
// root included). It is stopped with SIGTERM when the test ends; its log is
// printed if the test failed.
func StartNagios(t testing.TB, o NagiosOptions) *Nagios {
	t.Helper()
	RequireReal(t, "Nagios Core (nagios4)")
	n := newNagios(t, o)
	n.verify(t)
	n.out = &syncBuffer{}
	n.exited = make(chan struct{})
	n.cmd = exec.Command(Tool(t, "nagios4"), n.Config)
	n.cmd.Dir = n.Dir
	n.cmd.Env = append(os.Environ(), o.Env...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	// Its own process group, so that Stop can take the check workers
	// down with it if the main process does not exit.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nagios4: %v", err)
	}
	go func() { n.exitErr = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("nagios4 %s log:\n%s\noutput:\n%s", n.Config, n.Log(), n.out.String())
		}
	})
	n.waitReady(t)
	return n
}

// VerifyNagios writes the main config for o like StartNagios does, runs
// `nagios4 -v` on it, fails the test with the output on an error and
// returns the output (which counts warnings: "Total Warnings: N").
func VerifyNagios(t testing.TB, o NagiosOptions) string {
	t.Helper()
	RequireReal(t, "Nagios Core (nagios4)")
	return newNagios(t, o).verify(t)
}

// VerifyNagiosConfig runs `nagios4 -v` on an existing main config file and
// returns its output and whether Nagios accepted it.
func VerifyNagiosConfig(t testing.TB, mainConfig string) (string, bool) {
	t.Helper()
	RequireReal(t, "Nagios Core (nagios4)")
	out, err := exec.Command(Tool(t, "nagios4"), "-v", mainConfig).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("nagios4 -v %s: %v", mainConfig, err)
	}
	return string(out), err == nil
}

func newNagios(t testing.TB, o NagiosOptions) *Nagios {
	t.Helper()
	dir := t.TempDir()
	n := &Nagios{
		Dir:         dir,
		Config:      filepath.Join(dir, "nagios.cfg"),
		StatusFile:  filepath.Join(dir, "status.dat"),
		CommandFile: filepath.Join(dir, "rw", "nagios.cmd"),
		LogFile:     filepath.Join(dir, "nagios.log"),
	}
	for _, d := range []string{"rw", "checkresults", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Resource files in order, later ones winning: the default $USER1$,
	// o.ResourceFiles, then o.Resource.
	nagiosWrite(t, filepath.Join(dir, "default-resource.cfg"), "$USER1$=/usr/lib/nagios/plugins\n")
	keys := make([]string, 0, len(o.Resource))
	for k := range o.Resource {
		keys = append(keys, strings.Trim(k, "$"))
	}
	sort.Slice(keys, func(i, j int) bool { return userIndex(keys[i]) < userIndex(keys[j]) })
	var res strings.Builder
	for _, k := range keys {
		v, ok := o.Resource[k]
		if !ok {
			v = o.Resource["$"+k+"$"]
		}
		fmt.Fprintf(&res, "$%s$=%s\n", k, v)
	}
	nagiosWrite(t, filepath.Join(dir, "resource.cfg"), res.String())

	il := o.IntervalLength
	if il <= 0 {
		il = time.Minute
	}
	if il%time.Second != 0 {
		t.Fatalf("labtest.StartNagios: IntervalLength %v is not whole seconds", il)
	}
	var b strings.Builder
	for _, d := range o.ObjectDirs {
		fmt.Fprintf(&b, "cfg_dir=%s\n", nagiosAbs(t, d))
	}
	for _, f := range o.ObjectFiles {
		fmt.Fprintf(&b, "cfg_file=%s\n", nagiosAbs(t, f))
	}
	if o.Objects != "" {
		f := filepath.Join(dir, "test-objects.cfg")
		nagiosWrite(t, f, o.Objects)
		fmt.Fprintf(&b, "cfg_file=%s\n", f)
	}
	fmt.Fprintf(&b, "resource_file=%s\n", filepath.Join(dir, "default-resource.cfg"))
	for _, f := range o.ResourceFiles {
		fmt.Fprintf(&b, "resource_file=%s\n", nagiosAbs(t, f))
	}
	execute := 1
	if o.ManualChecks {
		execute = 0
	}
	notify := 0
	if o.Notifications {
		notify = 1
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	fmt.Fprintf(&b, `resource_file=%s
log_file=%s
object_cache_file=%s
precached_object_file=%s
status_file=%s
status_update_interval=1
nagios_user=%d
nagios_group=%d
check_external_commands=1
command_file=%s
query_socket=%s
lock_file=%s
temp_file=%s
temp_path=%s
check_result_path=%s
check_result_reaper_frequency=1
retain_state_information=0
state_retention_file=%s
interval_length=%d
execute_service_checks=%d
execute_host_checks=%d
enable_notifications=%d
check_for_updates=0
bare_update_check=1
use_syslog=0
log_initial_states=1
log_external_commands=1
log_passive_checks=1
service_check_timeout=60
host_check_timeout=30
date_format=iso8601
illegal_object_name_chars=`+"`"+`~!$%%^&*|'"<>?,()=
illegal_macro_output_chars=`+"`"+`~$&|'"<>
`, p("resource.cfg"), n.LogFile, p("objects.cache"), p("objects.precache"), n.StatusFile,
		os.Getuid(), os.Getgid(), n.CommandFile, socketPath(t, dir, "nagios.qh"), p("nagios.lock"),
		p("nagios.tmp"), p("tmp"), p("checkresults"), p("retention.dat"), il/time.Second,
		execute, execute, notify)
	for _, l := range o.Main {
		b.WriteString(l + "\n")
	}
	nagiosWrite(t, n.Config, b.String())
	return n
}

// verify runs nagios4 -v and fails the test on an error.
func (n *Nagios) verify(t testing.TB) string {
	t.Helper()
	out, ok := VerifyNagiosConfig(t, n.Config)
	if !ok {
		cfg, _ := os.ReadFile(n.Config)
		t.Fatalf("nagios4 -v %s rejected the config:\n%s\nmain config:\n%s", n.Config, out, cfg)
	}
	return out
}

func userIndex(k string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(k, "USER"))
	if err != nil {
		return 1 << 20
	}
	return i
}

func nagiosAbs(t testing.TB, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func nagiosWrite(t testing.TB, path, data string) {
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitReady waits up to 20 s for status.dat and the command FIFO.
func (n *Nagios) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := os.Stat(n.CommandFile)
		fifo := err == nil && st.Mode()&os.ModeNamedPipe != 0
		if _, err := os.Stat(n.StatusFile); err == nil && fifo {
			return
		}
		select {
		case <-n.exited:
			t.Fatalf("nagios4 exited at start (%v):\n%s\nlog:\n%s", n.exitErr, n.out.String(), n.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nagios4 not ready within 20s (no status.dat or command file):\n%s\nlog:\n%s", n.out.String(), n.Log())
		}
	}
}

// Log returns nagios.log so far: alerts, external commands, warnings.
func (n *Nagios) Log() string {
	b, _ := os.ReadFile(n.LogFile)
	return string(b)
}

// Stop sends SIGTERM and waits up to 10 s, then kills Nagios' process
// group (the main process and its check workers).
func (n *Nagios) Stop() {
	n.stopOnce.Do(func() {
		if n.cmd == nil || n.cmd.Process == nil {
			return
		}
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			<-n.exited
		}
	})
}

// Command writes one external command, e.g.
// "SCHEDULE_FORCED_SVC_CHECK;node1;labagent;1700000000", to the command
// file with the current time in front. It fails the test if Nagios does not
// take it within 5 s.
func (n *Nagios) Command(t testing.TB, command string) {
	t.Helper()
	line := fmt.Sprintf("[%d] %s\n", time.Now().Unix(), command)
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Non-blocking: opening a FIFO nobody reads fails (ENXIO) instead
		// of hanging the test. One write below PIPE_BUF is atomic.
		f, err := os.OpenFile(n.CommandFile, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			_, err = f.WriteString(line)
			f.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cannot write %q to the Nagios command file %s: %v", command, n.CommandFile, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ForceServiceCheck schedules a forced check of host's service now; it
// runs even when checks are disabled.
func (n *Nagios) ForceServiceCheck(t testing.TB, host, service string) {
	t.Helper()
	n.Command(t, fmt.Sprintf("SCHEDULE_FORCED_SVC_CHECK;%s;%s;%d", host, service, time.Now().Unix()))
}

// ForceHostCheck schedules a forced check of host now.
func (n *Nagios) ForceHostCheck(t testing.TB, host string) {
	t.Helper()
	n.Command(t, fmt.Sprintf("SCHEDULE_FORCED_HOST_CHECK;%s;%d", host, time.Now().Unix()))
}

// CheckService forces a check of host's service and waits up to timeout
// for its result: the first status whose last_check is later than that of
// the result before. It fails the test on a timeout.
func (n *Nagios) CheckService(t testing.TB, host, service string, timeout time.Duration) ServiceStatus {
	t.Helper()
	before, ok := n.Status(t).Service(host, service)
	if !ok {
		t.Fatalf("Nagios has no service %q on host %q (status.dat: %s)", service, host, n.StatusFile)
	}
	waitNextSecond(before.LastCheck)
	n.ForceServiceCheck(t, host, service)
	return n.WaitService(t, host, service, func(s ServiceStatus) bool {
		return s.HasBeenChecked && s.LastCheck.After(before.LastCheck)
	}, timeout)
}

// CheckHost is CheckService for a host check.
func (n *Nagios) CheckHost(t testing.TB, host string, timeout time.Duration) HostStatus {
	t.Helper()
	before, ok := n.Status(t).Host(host)
	if !ok {
		t.Fatalf("Nagios has no host %q (status.dat: %s)", host, n.StatusFile)
	}
	waitNextSecond(before.LastCheck)
	n.ForceHostCheck(t, host)
	return n.WaitHost(t, host, func(h HostStatus) bool {
		return h.HasBeenChecked && h.LastCheck.After(before.LastCheck)
	}, timeout)
}

// waitNextSecond sleeps until the clock is past last, which status.dat
// holds in whole seconds, so that a new check can be told from it.
func waitNextSecond(last time.Time) {
	if d := time.Until(last.Add(time.Second)); d > 0 {
		time.Sleep(d)
	}
}

// WaitService polls status.dat until host's service satisfies cond and
// returns that status; it fails the test after timeout with the last
// status seen.
func (n *Nagios) WaitService(t testing.TB, host, service string, cond func(ServiceStatus) bool, timeout time.Duration) ServiceStatus {
	t.Helper()
	return waitStatus(t, n, "service "+host+"/"+service, timeout, func(st *NagiosStatus) (ServiceStatus, bool) {
		return st.Service(host, service)
	}, cond)
}

// WaitHost is WaitService for a host.
func (n *Nagios) WaitHost(t testing.TB, host string, cond func(HostStatus) bool, timeout time.Duration) HostStatus {
	t.Helper()
	return waitStatus(t, n, "host "+host, timeout, func(st *NagiosStatus) (HostStatus, bool) {
		return st.Host(host)
	}, cond)
}

func waitStatus[S fmt.Stringer](t testing.TB, n *Nagios, what string, timeout time.Duration, find func(*NagiosStatus) (S, bool), cond func(S) bool) S {
	t.Helper()
	var last S
	var seen bool
	deadline := time.Now().Add(timeout)
	for {
		if st, err := n.ReadStatus(); err == nil {
			if last, seen = find(st); seen && cond(last) {
				return last
			}
		}
		switch {
		case time.Now().After(deadline) && !seen:
			t.Fatalf("Nagios %s: not in %s after %v", what, n.StatusFile, timeout)
		case time.Now().After(deadline):
			t.Fatalf("Nagios %s: condition not met within %v; last status: %s", what, timeout, last)
		case n.exitedEarly():
			t.Fatalf("nagios4 exited (%v) while waiting for %s:\n%s", n.exitErr, what, n.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *Nagios) exitedEarly() bool {
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

// Status reads and parses status.dat, failing the test if it cannot.
func (n *Nagios) Status(t testing.TB) *NagiosStatus {
	t.Helper()
	st, err := n.ReadStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// ReadStatus reads and parses status.dat. Nagios replaces the file by a
// rename, so a read never sees half a file.
func (n *Nagios) ReadStatus() (*NagiosStatus, error) {
	b, err := os.ReadFile(n.StatusFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read Nagios status: %w", err)
	}
	return ParseNagiosStatus(string(b))
}

// NagiosBaseObjects are the objects every Nagios config needs and tests do
// not care about: the timeperiod "always" and a contact "nobody" that is
// never notified. Hosts and services refer to them by those names.
const NagiosBaseObjects = `
define timeperiod {
    timeperiod_name always
    alias           always
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}
define command {
    command_name    labtest_notify
    command_line    /bin/true
}
define contact {
    contact_name                  nobody
    host_notification_period      always
    service_notification_period   always
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    labtest_notify
    service_notification_commands labtest_notify
}
`
