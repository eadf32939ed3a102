package nagiosconf

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/fleet"
	"github.com/labfleet/labfleet/internal/labtest"
)

var update = flag.Bool("update", false, "rewrite the golden files (nagios/ and testdata/)")

// checkedIn is where the repository keeps the lab's config.
var checkedIn = filepath.Join(labtest.RepoRoot(), "nagios")

// labOptions generate the checked-in config in nagios/ from the lab's
// inventory; nagios/README.md shows the same command line.
func labOptions() Options {
	return Options{
		Inventory: filepath.Join(checkedIn, "lab-inventory.ini"),
		Conn: fleet.Defaults{CAFile: "/etc/nagios4/labfleet/ca.crt", CertFile: "/etc/nagios4/labfleet/nagios.crt",
			KeyFile: "/etc/nagios4/labfleet/nagios.key"},
		DeployInventory: "/etc/nagios4/labfleet/inventory.ini",
		Apps:            []App{{Name: "todo", Port: 8000}},
		HAProxyFrontend: "127.0.0.10:80",
		HAProxySocket:   "/run/haproxy/admin.sock",
		HAProxyBackend:  "app",
	}
}

type golden struct {
	name     string
	opts     Options
	warnings []string
	// dir maps a generated file to its golden file.
	dir func(format, file string) string
}

func goldens() []golden {
	testdata := func(name string) func(string, string) string {
		return func(format, file string) string { return filepath.Join("testdata", name, format, file) }
	}
	return []golden{
		{name: "lab", opts: labOptions(), dir: func(format, file string) string {
			if format == "icinga2" {
				return filepath.Join(checkedIn, "icinga2", file)
			}
			return filepath.Join(checkedIn, "conf.d", file)
		}},
		{name: "token-yaml", dir: testdata("token-yaml"), opts: Options{
			Inventory: filepath.Join("testdata", "token-yaml", "inventory.yml"), NodeGroup: "web", ControlGroup: "controllers",
			Limit: "web:!web3", DeployInventory: "/etc/labfleet/inventory.yml", PluginDir: "/opt/labfleet/plugins",
			Apps: []App{{Name: "todo"}, {Name: "api", Port: 9000}}, AppString: "hello from",
			HAProxyFrontend: "127.0.0.20:80", HAProxySocket: "127.0.0.20:9999", HAProxyBackend: "todo",
			DBUser: "monitor", DBPasswordFile: "/etc/labfleet/monitor.password", CheckInterval: 30 * time.Second,
		}},
		{name: "insecure-single", dir: testdata("insecure-single"), opts: Options{
			Inventory: filepath.Join("testdata", "insecure-single", "inventory.ini"), Conn: fleet.Defaults{Insecure: true},
			DeployInventory: "/etc/labfleet/inventory.ini", Apps: []App{{Name: "todo"}}, CheckInterval: 5 * time.Minute,
		}, warnings: []string{`no hosts in inventory group "controls"`}},
	}
}

func generate(t *testing.T, g golden) *Config {
	t.Helper()
	c, err := Generate(g.opts)
	if err != nil {
		t.Fatalf("%s: %v", g.name, err)
	}
	if len(c.Warnings) != len(g.warnings) {
		t.Fatalf("%s: warnings %q, want %d", g.name, c.Warnings, len(g.warnings))
	}
	for i, w := range g.warnings {
		if !strings.Contains(c.Warnings[i], w) {
			t.Errorf("%s: warning %q, want it to say %q", g.name, c.Warnings[i], w)
		}
	}
	return c
}

func TestGenerate_MatchesGoldenFiles(t *testing.T) {
	for _, g := range goldens() {
		t.Run(g.name, func(t *testing.T) {
			c := generate(t, g)
			for format, files := range map[string][]File{"nagios": c.Nagios(), "icinga2": c.Icinga2()} {
				for _, f := range files {
					path := g.dir(format, f.Name)
					if *update {
						if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(path, f.Data, 0o644); err != nil {
							t.Fatal(err)
						}
						continue
					}
					want, err := os.ReadFile(path)
					if err != nil {
						t.Fatalf("%v (run go test ./controller/nagiosconf -update)", err)
					}
					if !bytes.Equal(f.Data, want) {
						t.Errorf("%s differs from %s (go test ./controller/nagiosconf -update rewrites it); got:\n%s", f.Name, path, f.Data)
					}
				}
			}
		})
	}
}

func TestGenerate_IsDeterministic(t *testing.T) {
	g := goldens()[1]
	first := generate(t, g)
	for range 20 {
		again := generate(t, g)
		for i, f := range again.Nagios() {
			if !bytes.Equal(f.Data, first.Nagios()[i].Data) {
				t.Fatalf("%s changed between runs", f.Name)
			}
		}
		for i, f := range again.Icinga2() {
			if !bytes.Equal(f.Data, first.Icinga2()[i].Data) {
				t.Fatalf("%s changed between runs", f.Name)
			}
		}
	}
}

func TestGenerate_LabHasEveryCheckOnTheRightHosts(t *testing.T) {
	c := generate(t, goldens()[0])
	want := map[string]string{
		"labagent":             "nodes",
		"node":                 "nodes",
		"replication":          "nodes",
		"container todo":       "nodes",
		"app todo":             "nodes",
		"deploy todo":          "host control",
		"app todo via haproxy": "host control",
		"haproxy app":          "host control",
	}
	got := map[string]string{}
	for _, s := range c.Services {
		got[s.Description] = s.HostGroup
		if s.Host != "" {
			got[s.Description] = "host " + s.Host
		}
	}
	if len(got) != len(want) {
		t.Errorf("services %v, want %v", got, want)
	}
	for d, w := range want {
		if got[d] != w {
			t.Errorf("service %q on %q, want %q", d, got[d], w)
		}
	}
	var groups []string
	for _, g := range c.Groups {
		groups = append(groups, g.Name+"="+strings.Join(g.Members, ","))
	}
	if strings.Join(groups, " ") != "cluster=control,node1,node2 controls=control nodes=node1,node2" {
		t.Errorf("hostgroups %v", groups)
	}
}

func TestGenerate_RejectsWhatCannotWork(t *testing.T) {
	dir := t.TempDir()
	mixed := filepath.Join(dir, "mixed.ini")
	if err := os.WriteFile(mixed, []byte("[nodes]\na labagent_ca=/a.crt\nb labagent_ca=/b.crt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lab := labOptions().Inventory
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"nodes with different CAs": {Options{Inventory: mixed}, "other TLS files"},
		"group all":                {Options{Inventory: lab, NodeGroup: "all"}, `not "all"`},
		"cert without key":         {Options{Inventory: lab, Conn: fleet.Defaults{CertFile: "/c.crt"}}, "needs its key"},
		"app name":                 {Options{Inventory: lab, Apps: []App{{Name: "to do"}}}, "app name"},
		"app twice":                {Options{Inventory: lab, Apps: []App{{Name: "todo"}, {Name: "todo", Port: 8001}}}, "twice"},
		"frontend":                 {Options{Inventory: lab, HAProxyFrontend: "127.0.0.10"}, "HOST:PORT"},
		"dollar in a path":         {Options{Inventory: lab, DBPasswordFile: "/etc/$x"}, "DB password file"},
		"interval":                 {Options{Inventory: lab, CheckInterval: 1500 * time.Millisecond}, "whole seconds"},
	} {
		_, err := Generate(tc.o)
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrOptions saying %q", name, err, tc.want)
		}
	}
	if _, err := Generate(Options{Inventory: lab, NodeGroup: "nope"}); !errors.Is(err, fleet.ErrInventory) {
		t.Errorf("unknown group: got %v, want fleet.ErrInventory", err)
	}
}

// writeFiles writes files into a new directory and returns it.
func writeFiles(t *testing.T, files []File) string {
	t.Helper()
	dir := t.TempDir()
	paths, err := WriteFiles(dir, files)
	if err != nil || len(paths) != len(files) {
		t.Fatalf("WriteFiles: %v %v", paths, err)
	}
	return dir
}

// wantClean fails unless nagios4 -v found neither errors nor warnings.
func wantClean(t *testing.T, what, out string) {
	t.Helper()
	if !strings.Contains(out, "Total Warnings: 0") || !strings.Contains(out, "Total Errors:   0") {
		t.Errorf("nagios4 -v on %s is not clean:\n%s", what, out)
	}
}

func TestNagios4AcceptsTheGeneratedConfig(t *testing.T) {
	for _, g := range goldens() {
		t.Run(g.name, func(t *testing.T) {
			dir := writeFiles(t, generate(t, g).Nagios())
			out := labtest.VerifyNagios(t, labtest.NagiosOptions{
				ObjectDirs:    []string{dir},
				ResourceFiles: []string{filepath.Join(dir, "resource.cfg.example")},
			})
			wantClean(t, g.name, out)
		})
	}
}

func TestNagios4AcceptsTheCheckedInConfig(t *testing.T) {
	objects := filepath.Join(checkedIn, "conf.d")
	resource := filepath.Join(objects, "resource.cfg.example")
	t.Run("conf.d", func(t *testing.T) {
		out := labtest.VerifyNagios(t, labtest.NagiosOptions{ObjectDirs: []string{objects}, ResourceFiles: []string{resource}})
		wantClean(t, "nagios/conf.d", out)
		for _, want := range []string{"Checked 13 services.", "Checked 10 commands.", "Checked 3 hosts.", "Checked 3 host groups."} {
			if !strings.Contains(out, want) {
				t.Errorf("nagios4 -v output lacks %q:\n%s", want, out)
			}
		}
	})

	// Installed the way nagios/README.md says: beside Debian's stock
	// objects, read through Debian's cfg_dir lines.
	t.Run("beside Debian's objects", func(t *testing.T) {
		labtest.RequireReal(t, "Nagios Core (nagios4) and its stock objects")
		stock, err := filepath.Glob("/etc/nagios4/objects/*.cfg")
		if err != nil || len(stock) == 0 {
			t.Fatalf("no Debian stock objects in /etc/nagios4/objects (nagios4-common): %v", err)
		}
		var files []string
		for _, f := range stock {
			switch filepath.Base(f) {
			case "commands.cfg", "contacts.cfg", "timeperiods.cfg", "templates.cfg", "localhost.cfg":
				files = append(files, f) // what Debian's nagios.cfg loads
			}
		}
		out := labtest.VerifyNagios(t, labtest.NagiosOptions{
			ObjectDirs: []string{"/etc/nagios-plugins/config", objects}, ObjectFiles: files, ResourceFiles: []string{resource},
		})
		wantClean(t, "nagios/conf.d with Debian's objects", out)
	})

	// nagios.cfg.example, with its state paths moved into a temp dir.
	t.Run("nagios.cfg.example", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(checkedIn, "nagios.cfg.example"))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		var lines []string
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, "=")
			switch {
			case !ok || strings.HasPrefix(line, "#"):
			case k == "cfg_dir":
				v = objects
			case k == "resource_file":
				v = resource
			case k == "nagios_user":
				v = strconv.Itoa(os.Getuid())
			case k == "nagios_group":
				v = strconv.Itoa(os.Getgid())
			case strings.HasPrefix(v, "/var/") || strings.HasPrefix(v, "/run/") || v == "/tmp":
				v = filepath.Join(dir, strings.ReplaceAll(strings.Trim(v, "/"), "/", "_"))
				if strings.HasSuffix(k, "_path") {
					if err := os.MkdirAll(v, 0o700); err != nil {
						t.Fatal(err)
					}
				}
			}
			if ok && !strings.HasPrefix(line, "#") {
				line = k + "=" + v
			}
			lines = append(lines, line)
		}
		cfg := filepath.Join(dir, "nagios.cfg")
		if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		out, ok := labtest.VerifyNagiosConfig(t, cfg)
		if !ok {
			t.Fatalf("nagios4 -v rejected nagios.cfg.example:\n%s", out)
		}
		wantClean(t, "nagios.cfg.example", out)
	})
}

// The plugins only read: the config gives them the monitoring identity,
// never labcontroller's certificate or token from the inventory.
func TestGenerate_PluginsGetTheMonitoringIdentityNeverTheControllers(t *testing.T) {
	dir := t.TempDir()
	inv := func(vars string) string {
		p := filepath.Join(dir, strconv.Itoa(len(vars))+".ini")
		if err := os.WriteFile(p, []byte("[nodes]\nnode1 ansible_host=127.0.0.11\n[nodes:vars]\nlabagent_ca=/etc/labfleet/ca.crt\n"+vars), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	controller := "labagent_cert=/etc/labfleet/labcontroller.crt\nlabagent_key=/etc/labfleet/labcontroller.key\nlabagent_token_file=/etc/labfleet/deploy.token\n"
	monitoring := "labagent_monitoring_cert=/etc/labfleet/nagios.crt\nlabagent_monitoring_key=/etc/labfleet/nagios.key\n"

	c, err := Generate(Options{Inventory: inv(controller + monitoring)})
	if err != nil {
		t.Fatal(err)
	}
	if c.auth.CertFile != "/etc/labfleet/nagios.crt" || c.auth.KeyFile != "/etc/labfleet/nagios.key" || c.auth.TokenFile != "" || c.auth.CAFile != "/etc/labfleet/ca.crt" {
		t.Errorf("with monitoring host vars the plugins get %+v", c.auth)
	}

	c, err = Generate(Options{Inventory: inv(controller)})
	if err != nil {
		t.Fatal(err)
	}
	if c.auth.CertFile != "" || c.auth.TokenFile != "" {
		t.Errorf("the plugins were given labcontroller's identity from the inventory: %+v", c.auth)
	}
	if len(c.Warnings) == 0 || !strings.Contains(strings.Join(c.Warnings, "\n"), "labcontroller's (role deploy) and never given to them") {
		t.Errorf("warnings %q, want one saying the controller's files are left out", c.Warnings)
	}

	for name, tc := range map[string]struct {
		vars string
		conn fleet.Defaults
		want string
	}{
		"--cert is the inventory's labagent_cert": {controller, fleet.Defaults{CertFile: "/etc/labfleet/labcontroller.crt", KeyFile: "/etc/labfleet/other.key"},
			"/etc/labfleet/labcontroller.crt is labcontroller's (role deploy, the inventory's labagent_cert)"},
		"--token-file is the deploy token": {controller, fleet.Defaults{TokenFile: "/etc/labfleet/deploy.token"},
			"/etc/labfleet/deploy.token is labcontroller's (role deploy, the inventory's labagent_token_file)"},
		"a file named labcontroller.crt": {"", fleet.Defaults{CertFile: "/etc/nagios4/labfleet/labcontroller.crt", KeyFile: "/etc/nagios4/labfleet/labcontroller.key"},
			"give them the monitoring identity with --cert (certs init writes nagios.crt and nagios.key)"},
		"monitoring host var pointing at the controller's": {controller + "labagent_monitoring_cert=/etc/labfleet/labcontroller.crt\nlabagent_monitoring_key=/etc/labfleet/nagios.key\n",
			fleet.Defaults{}, "is labcontroller's"},
	} {
		_, err := Generate(Options{Inventory: inv(tc.vars + "# " + name + "\n"), Conn: tc.conn})
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrOptions saying %q", name, err, tc.want)
		}
	}
}
