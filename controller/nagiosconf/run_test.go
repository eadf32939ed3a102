package nagiosconf

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// fakePlugins makes a plugin directory whose check_* all print their name
// and arguments, one [bracketed] argument each, so a test sees exactly the
// argv Nagios gave them; they also append that line to calls.log there.
func fakePlugins(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "labfleet-checks")
	body := "#!/bin/sh\nline=\"OK - ${0##*/}\"\nfor a in \"$@\"; do line=\"$line [$a]\"; done\n" +
		"echo \"$line\"\necho \"$line\" >> \"${0%/*}/calls.log\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range plugins {
		if err := os.Symlink(script, filepath.Join(dir, p.binary())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// argv renders a command line the way the fake plugins print it.
func argv(name string, args ...string) string {
	return "OK - " + name + " [" + strings.Join(args, "] [") + "]"
}

func TestNagiosAndIcinga2RunThePluginsWithTheSameFlags(t *testing.T) {
	tls := []string{"--cacert", "/etc/nagios4/labfleet/ca.crt", "--cert", "/etc/nagios4/labfleet/nagios.crt", "--key", "/etc/nagios4/labfleet/nagios.key"}
	token := []string{"--cacert", "/etc/labfleet/ca.crt", "--token-file", "/etc/labfleet/monitoring.token"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		golden string
		want   map[string]string // host/service -> plugin argv
	}{
		{"lab", map[string]string{
			"node1/labagent": argv("check_labagent", cat([]string{"-H", "127.0.0.11", "-p", "7443"}, tls, []string{"-w", "1", "-c", "5"})...),
			"node2/node": argv("check_node", cat([]string{"-H", "127.0.0.12", "-p", "7443"}, tls, []string{"--load-warning", "2", "--load-critical", "4",
				"--mem-warning", "85", "--mem-critical", "95", "--disk-warning", "85", "--disk-critical", "95", "--mount", "/"})...),
			"node1/container todo": argv("check_container", cat([]string{"-H", "127.0.0.11", "-p", "7443"}, tls, []string{"--app", "todo", "-w", "3", "-c", "10"})...),
			"node2/replication": argv("check_replication", "-H", "127.0.0.12", "-P", "3306", "-u", "nagios", "--password-file",
				"/etc/nagios4/labfleet/mariadb.password", "-w", "60", "-c", "300", "--min-connections", "1", "--check-errant"),
			"node1/app todo":               argv("check_app", "-H", "127.0.0.11", "-p", "8000", "-u", "/healthz", "-e", "200", "-w", "1", "-c", "5"),
			"control/app todo via haproxy": argv("check_app", "-H", "127.0.0.10", "-p", "80", "-u", "/healthz", "-e", "200", "-w", "1", "-c", "5"),
			"control/deploy todo":          argv("check_deploy", cat([]string{"-i", "/etc/nagios4/labfleet/inventory.ini", "--group", "nodes", "--app", "todo"}, tls)...),
			"control/haproxy app":          argv("check_haproxy", "--socket", "/run/haproxy/admin.sock", "--backend", "app", "-w", "2:", "-c", "1:"),
		}},
		{"token-yaml", map[string]string{
			"web1/labagent":      argv("check_labagent", cat([]string{"-H", "127.0.0.21", "-p", "7444"}, token, []string{"-w", "1", "-c", "5"})...),
			"web2/container api": argv("check_container", cat([]string{"-H", "127.0.0.22", "-p", "7443"}, token, []string{"--app", "api", "-w", "3", "-c", "10"})...),
			"web1/replication": argv("check_replication", "-H", "127.0.0.31", "-P", "3307", "-u", "monitor", "--password-file",
				"/etc/labfleet/monitor.password", "-w", "60", "-c", "300", "--min-connections", "1", "--check-errant"),
			"web2/app api":             argv("check_app", "-H", "127.0.0.22", "-p", "9000", "-u", "/healthz", "-e", "200", "-w", "1", "-c", "5", "-s", "hello from"),
			"ctl/app todo via haproxy": argv("check_app", "-H", "127.0.0.20", "-p", "80", "-u", "/healthz", "-e", "200", "-w", "1", "-c", "5", "-s", "hello from"),
			"ctl/haproxy todo":         argv("check_haproxy", "--socket", "127.0.0.20:9999", "--backend", "todo", "-w", "2:", "-c", "1:"),
			"ctl/deploy todo":          argv("check_deploy", cat([]string{"-i", "/etc/labfleet/inventory.yml", "--group", "web", "--app", "todo"}, token, []string{"--limit", "web:!web3"})...),
		}},
		{"insecure-single", map[string]string{
			"solo/labagent": argv("check_labagent", "-H", "127.0.0.40", "-p", "7443", "--insecure", "-w", "1", "-c", "5"),
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var g golden
			for _, x := range goldens() {
				if x.name == tc.golden {
					g = x
				}
			}
			c := generate(t, g)
			dir := writeFiles(t, c.Nagios())
			n := labtest.StartNagios(t, labtest.NagiosOptions{
				ObjectDirs:    []string{dir},
				ResourceFiles: []string{filepath.Join(dir, "resource.cfg.example")},
				Resource:      map[string]string{"USER2": fakePlugins(t)},
				ManualChecks:  true,
			})
			services := n.Status(t).Services
			for _, svc := range services {
				n.ForceServiceCheck(t, svc.HostName, svc.ServiceDescription)
			}
			checked := 0
			var ran []string
			for _, svc := range services {
				key := svc.HostName + "/" + svc.ServiceDescription
				got := n.WaitService(t, svc.HostName, svc.ServiceDescription, func(s labtest.ServiceStatus) bool { return s.HasBeenChecked }, 15*time.Second)
				if got.State() != "OK" {
					t.Errorf("%s: %s", key, got)
				}
				ran = append(ran, got.PluginOutput)
				if want, ok := tc.want[key]; ok {
					checked++
					if got.PluginOutput != want {
						t.Errorf("%s ran\n  %s\nwant\n  %s", key, got.PluginOutput, want)
					}
				}
			}
			if checked != len(tc.want) {
				t.Errorf("found %d of the %d services the test expects", checked, len(tc.want))
			}

			// Icinga 2, with the same lab in --format icinga2, runs the
			// same command lines.
			g.opts.CheckInterval = time.Second
			icinga := icinga2Run(t, generate(t, g), len(ran))
			slices.Sort(ran)
			if !slices.Equal(icinga, ran) {
				t.Errorf("Icinga 2 ran\n  %s\nNagios ran\n  %s", strings.Join(icinga, "\n  "), strings.Join(ran, "\n  "))
			}
		})
	}
}

// icinga2Run runs Icinga 2 on c's Icinga 2 config with fake plugins, every
// check due each second, until the plugins ran n distinct command lines, and
// returns them sorted.
func icinga2Run(t *testing.T, c *Config, n int) []string {
	t.Helper()
	plugins := fakePlugins(t)
	c.o.PluginDir = plugins
	dir := writeFiles(t, c.Icinga2())
	state := t.TempDir()
	main := filepath.Join(state, "icinga2.conf")
	conf := "const PluginDir = \"/usr/lib/nagios/plugins\"\ninclude <itl>\ninclude <plugins>\n" +
		"include \"" + filepath.Join(dir, "commands.conf") + "\"\ninclude \"" + filepath.Join(dir, "lab.conf") + "\"\n" +
		"object CheckerComponent \"checker\" { }\n"
	if err := os.WriteFile(main, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"daemon", "-c", main}
	for _, d := range []string{"DataDir", "CacheDir", "LogDir", "SpoolDir", "InitRunDir"} {
		args = append(args, "-D"+d+"="+state)
	}
	for d, f := range map[string]string{"PidPath": "icinga2.pid", "StatePath": "icinga2.state", "ObjectsPath": "objects", "VarsPath": "vars"} {
		args = append(args, "-D"+d+"="+filepath.Join(state, f))
	}
	cmd := icinga2Cmd(t, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	var calls []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(plugins, "calls.log"))
		calls = strings.Split(strings.TrimSpace(string(b)), "\n")
		slices.Sort(calls)
		calls = slices.Compact(calls)
		if len(calls) >= n {
			return calls
		}
		select {
		case <-done:
			t.Fatalf("icinga2 exited:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("icinga2 ran %d distinct checks in 30s, want %d:\n%s\noutput:\n%s", len(calls), n, strings.Join(calls, "\n"), out.String())
	return nil
}

// icinga2Cmd is an icinga2 command that runs as the test's user: without
// ICINGA2_USER and ICINGA2_GROUP it switches to Debian's "nagios" account.
func icinga2Cmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(labtest.Tool(t, "icinga2"), args...)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "ICINGA2_USER="+u.Username, "ICINGA2_GROUP="+g.Name)
	return cmd
}

// icinga2Validate runs `icinga2 daemon -C` on a main config that includes
// the ITL (for hostalive) and the files in dir, and returns its output.
// Icinga runs as the test's user and caches into a temp dir, so the
// system's /var/cache/icinga2 is never touched.
func icinga2Validate(t *testing.T, dir string) (string, bool) {
	t.Helper()
	tmp := t.TempDir()
	main := filepath.Join(tmp, "icinga2.conf")
	conf := "const PluginDir = \"/usr/lib/nagios/plugins\"\ninclude <itl>\ninclude <plugins>\n" +
		"include \"" + filepath.Join(dir, "commands.conf") + "\"\ninclude \"" + filepath.Join(dir, "lab.conf") + "\"\n"
	if err := os.WriteFile(main, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := icinga2Cmd(t, "daemon", "-C", "-c", main, "-DCacheDir="+tmp).CombinedOutput()
	return string(out), err == nil
}

func TestIcinga2AcceptsTheConfig(t *testing.T) {
	for _, g := range goldens() {
		t.Run(g.name, func(t *testing.T) {
			dir := writeFiles(t, generate(t, g).Icinga2())
			if out, ok := icinga2Validate(t, dir); !ok || strings.Contains(out, "warning/") {
				t.Errorf("icinga2 daemon -C (ok %v):\n%s", ok, out)
			}
		})
	}
	t.Run("checked in", func(t *testing.T) {
		out, ok := icinga2Validate(t, filepath.Join(checkedIn, "icinga2"))
		if !ok {
			t.Fatalf("icinga2 daemon -C rejected nagios/icinga2:\n%s", out)
		}
		for _, want := range []string{"Instantiated 3 Hosts.", "Instantiated 3 HostGroups.", "Instantiated 13 Services."} {
			if !strings.Contains(out, want) {
				t.Errorf("icinga2 daemon -C output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("broken", func(t *testing.T) {
		dir := writeFiles(t, []File{{"commands.conf", []byte("")}, {"lab.conf", []byte("object Host \"x\" { check_command = \"nope\" }\n")}})
		if out, ok := icinga2Validate(t, dir); ok {
			t.Errorf("icinga2 daemon -C accepted a host with an unknown check command:\n%s", out)
		}
	})
}
