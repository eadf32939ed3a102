package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/pki"
	"github.com/labfleet/labfleet/internal/tlsfiles"
)

var certFiles = []string{"ca.crt", "ca.key", "node1.crt", "node1.key", "node2.crt", "node2.key", "labcontroller.crt", "labcontroller.key", "nagios.crt", "nagios.key"}

func TestCertsInit_WritesAMatchingSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	code, out, errs := run(t, "certs", "init", "--dir", dir, "--hosts", "node1=127.0.0.11,node2=127.0.0.12+node2.lab")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var want []string
	for _, f := range certFiles {
		want = append(want, "wrote "+filepath.Join(dir, f))
	}
	if got := strings.TrimSpace(out); got != strings.Join(want, "\n") {
		t.Errorf("stdout\n got: %s\nwant: %s", got, strings.Join(want, "\n"))
	}
	for _, f := range certFiles {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".key") && st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if _, err := tlsfiles.LoadKeyPair(filepath.Join(dir, "node2.crt"), filepath.Join(dir, "node2.key")); err != nil {
		t.Errorf("node2's pair does not load: %v", err)
	}
	if _, err := tlsfiles.LoadCAPool(filepath.Join(dir, "ca.crt")); err != nil {
		t.Errorf("the CA does not load: %v", err)
	}
}

func TestCertsInit_NeverOverwritesWithoutForce(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "certs", "init", "--dir", dir, "--hosts", "node1=127.0.0.11"); code != 0 {
		t.Fatalf("first init: exit %d, %q", code, errs)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	code, out, errs := run(t, "certs", "init", "--dir", dir, "--hosts", "node1=127.0.0.11")
	if code != 2 || out != "" {
		t.Errorf("second init: exit %d, stdout %q; want 2 and nothing written", code, out)
	}
	contains(t, "stderr", errs, "files already exist in "+dir+": ca.crt, ca.key, node1.crt", "use --force to replace them")
	if now, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); string(now) != string(ca) {
		t.Error("the CA was replaced without --force")
	}
	if code, _, errs := run(t, "certs", "init", "--dir", dir, "--hosts", "node1=127.0.0.11", "--force"); code != 0 {
		t.Errorf("--force: exit %d, %q", code, errs)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); string(now) == string(ca) {
		t.Error("--force kept the old CA")
	}
}

func TestCertsInit_UsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--hosts", "node1=127.0.0.11"}, "labcontroller: certs init needs --dir DIR\n"},
		{[]string{"--dir", dir}, "labcontroller: certs init needs --hosts NAME=ADDR[,NAME=ADDR...], e.g. node1=127.0.0.11,node2=127.0.0.12\n"},
		{[]string{"--dir", dir, "--hosts", "node1"}, `labcontroller: --hosts: bad hosts entry 1 "node1": no "="`},
		{[]string{"--dir", dir, "--hosts", "node1=127.0.0.11", "--days", "0"}, "labcontroller: --days 0: must be at least 1\n"},
	}
	for _, tt := range tests {
		code, out, errs := run(t, append([]string{"certs", "init"}, tt.args...)...)
		if code != 2 || out != "" || !strings.HasPrefix(errs, tt.want) {
			t.Errorf("certs init %q: exit %d, stdout %q, stderr %q; want 2 and %q", tt.args, code, out, errs, tt.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused init wrote %d files", len(entries))
	}
}

func TestCertsInit_WritesTheMonitoringCertificateWithItsRole(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "certs", "init", "--dir", dir, "--hosts", "node1=127.0.0.11", "--monitoring-name", "icinga"); code != 0 {
		t.Fatalf("exit %d, %q", code, errs)
	}
	for name, want := range map[string]string{"labcontroller": pki.RoleDeploy, "icinga": pki.RoleMonitoring} {
		certs, err := tlsfiles.LoadCertificates(filepath.Join(dir, name+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		if role, err := pki.CertRole(certs[0]); role != want || err != nil {
			t.Errorf("%s.crt has role %q (%v), want %q", name, role, err, want)
		}
	}
	code, _, errs := run(t, "certs", "init", "--dir", t.TempDir(), "--hosts", "node1=127.0.0.11", "--monitoring-name", "labcontroller")
	if code == 0 || !strings.Contains(errs, `monitoring client "labcontroller" uses the same file names as client "labcontroller"`) {
		t.Errorf("monitoring named like the controller: exit %d, %q", code, errs)
	}
}

func TestCertsRenew_ReissuesFromTheSameCA(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "certs", "init", "--dir", dir, "--hosts", "node1=127.0.0.11", "--days", "1"); code != 0 {
		t.Fatalf("init: exit %d, %q", code, errs)
	}
	before := map[string][]byte{}
	for _, f := range []string{"ca.crt", "ca.key", "node1.crt", "node1.key", "nagios.crt"} {
		before[f], _ = os.ReadFile(filepath.Join(dir, f))
	}
	code, out, errs := run(t, "certs", "renew", "--dir", dir, "--days", "30")
	if code != 0 || errs != "" {
		t.Fatalf("renew: exit %d, stderr %q", code, errs)
	}
	contains(t, "stdout", out,
		"renewed "+filepath.Join(dir, "node1.crt")+" (server node1, until ",
		"renewed "+filepath.Join(dir, "labcontroller.crt")+" (client labcontroller, role deploy, until ",
		"renewed "+filepath.Join(dir, "nagios.crt")+" (client nagios, role monitoring, until ",
		"Next: copy each node its .crt from "+dir+" and run `systemctl reload labagent` (SIGHUP) there.")
	if strings.Contains(out, "wrote") {
		t.Errorf("renew without --new-keys wrote keys:\n%s", out)
	}
	for f, b := range before {
		now, _ := os.ReadFile(filepath.Join(dir, f))
		leaf := strings.HasSuffix(f, ".crt") && f != "ca.crt"
		if changed := !bytes.Equal(now, b); changed != leaf {
			t.Errorf("%s changed = %v, want %v (renew changes the leaf certificates only)", f, changed, leaf)
		}
	}
	pair, err := tlsfiles.LoadKeyPair(filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node1.key"))
	if err != nil {
		t.Fatal(err)
	}
	if days := pair.Leaf.NotAfter.Sub(pair.Leaf.NotBefore).Hours() / 24; days < 30 || days > 31 {
		t.Errorf("renewed certificate lives %.1f days, want 30", days)
	}

	code, out, _ = run(t, "certs", "renew", "--dir", dir, "--new-keys")
	if code != 0 {
		t.Fatalf("renew --new-keys: exit %d", code)
	}
	contains(t, "stdout", out, "wrote "+filepath.Join(dir, "node1.key"), "its .crt and .key from")
	if now, _ := os.ReadFile(filepath.Join(dir, "node1.key")); bytes.Equal(now, before["node1.key"]) {
		t.Error("--new-keys kept node1.key")
	}
}

func TestCertsRenew_RefusesWithoutAUsableCA(t *testing.T) {
	empty := t.TempDir()
	code, out, errs := run(t, "certs", "renew", "--dir", empty)
	if code != 2 || out != "" || !strings.Contains(errs, "labcontroller: no CA to renew from: "+filepath.Join(empty, "ca.crt")+" does not exist") {
		t.Errorf("no CA: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("a refused renew wrote %d files", len(entries))
	}
	code, _, errs = run(t, "certs", "renew")
	if code != 2 || !strings.Contains(errs, "certs renew needs --dir DIR") {
		t.Errorf("no --dir: exit %d, %q", code, errs)
	}
}
