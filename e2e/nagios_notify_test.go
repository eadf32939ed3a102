package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// mailUser is the local account the notification tests mail to: Debian's
// exim4 delivers root's mail elsewhere (to the mail user), so a dedicated
// account keeps the tests' mailbox their own.
const mailUser = "labfleet-mail"

// mailbox makes sure mailUser exists and returns its mailbox path.
func mailbox(t *testing.T) string {
	t.Helper()
	labtest.Tool(t, "mail")
	labtest.Tool(t, "exim4")
	if err := exec.Command("id", mailUser).Run(); err != nil {
		// exim delivers as the user from its home directory: it needs one.
		if out, err := exec.Command("useradd", "--system", "--create-home", "--home-dir", "/var/lib/"+mailUser,
			"--shell", "/usr/sbin/nologin", mailUser).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v\n%s", mailUser, err, out)
		}
	}
	return "/var/mail/" + mailUser
}

// pluginDir builds labfleet's plugins as the Makefile does.
func pluginDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "labfleet-checks"), "./plugins/cmd/labfleet-checks")
	build.Dir = labtest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build labfleet-checks: %v\n%s", err, out)
	}
	for _, p := range []string{"check_labagent", "check_node", "check_container", "check_app", "check_deploy", "check_haproxy", "check_replication"} {
		if err := os.Symlink("labfleet-checks", filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestNagios_NotifiesByMail: the config `labcontroller nagios config`
// writes, run by a real Nagios Core with notifications on, mails the
// contact through Debian's MTA when an agent goes away.
func TestNagios_NotifiesByMail(t *testing.T) {
	box := mailbox(t)
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "mailnode", Mode: labtest.Insecure})
	inv := labInventory(t, "", a)
	out := t.TempDir()
	r := controller(t, "-i", inv, "--insecure", "nagios", "config", "--out", out, "--contact-email", mailUser+"@localhost")
	if r.Code != 0 {
		t.Fatalf("nagios config: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	n := labtest.StartNagios(t, labtest.NagiosOptions{
		ObjectDirs:    []string{out},
		ResourceFiles: []string{filepath.Join(out, "resource.cfg.example")},
		Resource:      map[string]string{"USER2": pluginDir(t)},
		ManualChecks:  true,
		Notifications: true,
	})
	ok := n.CheckService(t, a.Name, "labagent", 30*time.Second)
	if ok.State() != "OK" {
		t.Fatalf("labagent service before the failure: %s", ok)
	}
	a.Stop()
	// max_check_attempts 3: the third failed check makes it HARD and notifies.
	for i := 0; i < 3; i++ {
		n.CheckService(t, a.Name, "labagent", 30*time.Second)
	}
	subject := "labfleet PROBLEM: " + a.Name + "/labagent is CRITICAL"
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(box)
		if strings.Contains(string(b), subject) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail %q in %s within 30s; nagios.log:\n%s", subject, box, n.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestNagios_WebInterface: Debian's nagios4-cgi behind Debian's Apache
// shows the hosts and services of the generated config, as a browser
// (headless Chromium) renders the services page.
func TestNagios_WebInterface(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "webnode", Mode: labtest.Insecure})
	inv := labInventory(t, "", a)
	out := t.TempDir()
	if r := controller(t, "-i", inv, "--insecure", "nagios", "config", "--out", out); r.Code != 0 {
		t.Fatalf("nagios config: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	n := labtest.StartNagios(t, labtest.NagiosOptions{
		ObjectDirs:    []string{out},
		ResourceFiles: []string{filepath.Join(out, "resource.cfg.example")},
		Resource:      map[string]string{"USER2": pluginDir(t)},
		ManualChecks:  true,
	})
	n.CheckService(t, a.Name, "labagent", 30*time.Second)
	web := labtest.StartNagiosWeb(t, n)
	page := labtest.Browse(t, web.URL+"cgi-bin/status.cgi?host=all")
	for _, want := range []string{"Current Network Status", a.Name, "labagent", "LABAGENT OK"} {
		if !strings.Contains(page, want) {
			t.Errorf("the services page lacks %q:\n%s", want, page)
		}
	}
}
