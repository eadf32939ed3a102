package labtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NagiosWeb is Debian's Nagios web interface (nagios4-cgi) served by
// Debian's Apache for one test Nagios.
type NagiosWeb struct {
	URL string // e.g. http://127.1.2.3:8080/nagios4/
	Dir string
}

// apacheModules are the modules the CGIs need, from Debian's apache2.
var apacheModules = []string{"mpm_prefork", "authz_core", "authz_host", "alias", "cgi", "mime", "dir", "env"}

// StartNagiosWeb serves n's status through nagios4-cgi behind an apache2
// of its own on a fresh loopback address, with the CGIs reading n's main
// config (cgi.cfg's main_config_file). The CGIs run as www-data, so n's
// main config, status and object cache are made readable to it (its
// resource files, which hold secrets, stay private). Authentication is
// off: the server answers only on a loopback address the test chose.
func StartNagiosWeb(t testing.TB, n *Nagios) *NagiosWeb {
	t.Helper()
	RequireReal(t, "Apache with nagios4-cgi")
	bin := Tool(t, "apache2")
	if _, err := os.Stat("/usr/lib/cgi-bin/nagios4/status.cgi"); err != nil {
		t.Fatalf("nagios4-cgi is not installed: run `make deps` (scripts/install-deps.sh) first")
	}
	// www-data must reach n's files: open the directories on the way
	// (t.TempDir makes them 0700) and the files the CGIs read.
	for d := n.Dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(n.Config, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &NagiosWeb{Dir: dir}
	cgi := filepath.Join(dir, "cgi.cfg")
	if err := os.WriteFile(cgi, fmt.Appendf(nil, "main_config_file=%s\nphysical_html_path=/usr/share/nagios4/htdocs\nurl_html_path=/nagios4\nuse_authentication=0\n", n.Config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t, LoopbackIP())
	var b strings.Builder
	fmt.Fprintf(&b, "ServerRoot /etc/apache2\nServerName %s\nListen %s\nPidFile %s\nMutex file:%s default\nErrorLog %s\nLogLevel warn\nUser www-data\nGroup www-data\n",
		addr, addr, filepath.Join(dir, "apache.pid"), dir, filepath.Join(dir, "error.log"))
	for _, m := range apacheModules {
		fmt.Fprintf(&b, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	fmt.Fprintf(&b, `TypesConfig /etc/mime.types
ScriptAlias /cgi-bin/nagios4 /usr/lib/cgi-bin/nagios4
ScriptAlias /nagios4/cgi-bin /usr/lib/cgi-bin/nagios4
Alias /nagios4/stylesheets /etc/nagios4/stylesheets
Alias /nagios4 /usr/share/nagios4/htdocs
<Directory />
    Require all denied
</Directory>
<DirectoryMatch (/usr/share/nagios4/htdocs|/usr/lib/cgi-bin/nagios4|/etc/nagios4/stylesheets)>
    Options FollowSymLinks
    DirectoryIndex index.html
    Require ip 127.0.0.0/8
    SetEnv NAGIOS_CGI_CONFIG %s
</DirectoryMatch>
`, cgi)
	conf := filepath.Join(dir, "apache2.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-f", conf, "-DFOREGROUND")
	// Apache stops by signalling its whole process group: give it one of
	// its own, or the test itself gets the SIGTERM. Its children hold any
	// pipe open, so output goes to the error log rather than through one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	out := &syncBuffer{}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("apache2: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("apache2 for the Nagios web interface:\n%s%s", out.String(), log)
		}
	})
	w.URL = "http://" + addr + "/nagios4/"
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			if resp, err := http.Get(w.URL); err == nil {
				resp.Body.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("apache2 did not answer on %s within 15s:\n%s%s", addr, out.String(), log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return w
}

// Browse loads url in headless Chromium (Debian's) and returns the page's
// DOM after it rendered.
func Browse(t testing.TB, url string) string {
	t.Helper()
	bin := Tool(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir="+profile, "--dump-dom", url)
	// Chromium's helper processes inherit stdout: end them all with it, and
	// do not wait on the pipe for ever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	return string(out)
}
