package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/labtest"
)

func writeFile(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func hostPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}

// labInventory writes an inventory in the lab's shape (controls, nodes,
// cluster) with host vars pointing at the given agents.
func labInventory(t *testing.T, extra string, agents ...*labtest.Agent) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[controls]\ncontrol ansible_host=127.0.0.10\n\n[nodes]\n")
	for _, a := range agents {
		h, p := hostPort(a.Addr)
		fmt.Fprintf(&b, "%s ansible_host=%s labagent_port=%s%s\n", a.Name, h, p, extra)
	}
	b.WriteString("\n[cluster:children]\ncontrols\nnodes\n")
	return writeFile(t, "inventory.ini", b.String())
}

func controller(t testing.TB, args ...string) labtest.Result {
	t.Helper()
	return labtest.Run(t, nil, labtest.Binary(t, "labcontroller"), args...)
}

func TestController_InfoTwoAgents(t *testing.T) {
	n1 := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Insecure})
	n2 := labtest.StartAgent(t, labtest.AgentOptions{Name: "node2", Mode: labtest.Insecure})
	inv := labInventory(t, "", n1, n2)

	r := controller(t, "-i", inv, "--insecure", "info")
	if r.Code != 0 {
		t.Fatalf("info: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"NODE", "node1", "node2", n1.Addr, n2.Addr, "ok"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("info output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "control") {
		t.Errorf("info reported a host outside the nodes group:\n%s", r.Stdout)
	}

	r = controller(t, "-i", inv, "--insecure", "--limit", "node2", "-o", "json", "info")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"node": "node2"`) || strings.Contains(r.Stdout, `"node1"`) {
		t.Fatalf("info --limit node2 -o json: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// One node down: exit 1, naming the node, its address and why.
	n2.Stop()
	r = controller(t, "-i", inv, "--insecure", "info")
	if r.Code != 1 || !strings.Contains(r.Stdout, "UNREACHABLE") ||
		!strings.Contains(r.Stderr, "node2") || !strings.Contains(r.Stderr, n2.Addr) || !strings.Contains(r.Stderr, "connection refused") {
		t.Fatalf("info with node2 down: want exit 1 naming node2, %s and the cause; got %d\n%s%s", n2.Addr, r.Code, r.Stdout, r.Stderr)
	}
}

func TestController_InfoOverMTLS(t *testing.T) {
	ip := labtest.LoopbackIP()
	dir := labtest.Certs(t, ip, "node1")
	n1 := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS, Certs: dir, IP: ip})
	inv := labInventory(t, "", n1)
	flags := []string{"--ca", filepath.Join(n1.Certs, "ca.crt"), "--cert", filepath.Join(n1.Certs, "labcontroller.crt"), "--key", filepath.Join(n1.Certs, "labcontroller.key")}

	r := controller(t, append([]string{"-i", inv, "info"}, flags...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "ok") {
		t.Fatalf("info over mTLS: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// The same, with the TLS files as group vars in the inventory.
	inv2 := writeFile(t, "inv.ini", fmt.Sprintf("[nodes]\nnode1 ansible_host=%s labagent_port=%s\n\n[nodes:vars]\nlabagent_ca=%s\nlabagent_cert=%s\nlabagent_key=%s\n",
		strings.Split(n1.Addr, ":")[0], strings.Split(n1.Addr, ":")[1], filepath.Join(n1.Certs, "ca.crt"), filepath.Join(n1.Certs, "labcontroller.crt"), filepath.Join(n1.Certs, "labcontroller.key")))
	r = controller(t, "-i", inv2, "info")
	if r.Code != 0 {
		t.Fatalf("info with TLS files from group vars: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Without a client certificate the agent refuses us, and we say so.
	r = controller(t, "-i", inv, "info", "--ca", filepath.Join(n1.Certs, "ca.crt"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "refused our credentials") {
		t.Fatalf("info without client cert: want exit 1 'refused our credentials', got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// A missing certificate file is named.
	r = controller(t, "-i", inv, "info", "--ca", filepath.Join(n1.Certs, "ca.crt"), "--cert", "/nonexistent/c.crt", "--key", "/nonexistent/c.key")
	if r.Code == 0 || !strings.Contains(r.Stderr, "/nonexistent/c.crt") {
		t.Fatalf("info with a missing cert: want an error naming the file, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Plaintext to a non-loopback address is refused before dialing.
	inv3 := writeFile(t, "lan.ini", "[nodes]\nnodeX ansible_host=192.0.2.10\n")
	r = controller(t, "-i", inv3, "--insecure", "info")
	if r.Code != 1 || !strings.Contains(r.Stderr, "refusing plaintext to 192.0.2.10:7443") {
		t.Fatalf("--insecure to a LAN address: want refusal, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestController_BadInventoryAndLimit(t *testing.T) {
	bad := writeFile(t, "bad.ini", "[nodes]\nnode1\n[broken\nnode2\n")
	r := controller(t, "-i", bad, "--insecure", "info")
	if r.Code != 2 || !strings.Contains(r.Stderr, bad+":3") {
		t.Fatalf("malformed inventory: want exit 2 with %s:3, got %d\n%s", bad, r.Code, r.Stderr)
	}
	good := writeFile(t, "good.ini", "[nodes]\nnode1 ansible_host=127.0.0.11\nnode2 ansible_host=127.0.0.12\n")
	r = controller(t, "-i", good, "--insecure", "--limit", "node3", "info")
	if r.Code != 2 || !strings.Contains(r.Stderr, "node3") {
		t.Fatalf("unknown --limit host: want exit 2 naming node3, got %d\n%s", r.Code, r.Stderr)
	}
	r = controller(t, "--insecure", "info")
	if r.Code != 2 || !strings.Contains(r.Stderr, "-i") {
		t.Fatalf("no inventory: want exit 2 asking for -i, got %d\n%s", r.Code, r.Stderr)
	}
	r = controller(t, "-i", "/nonexistent/inventory.ini", "info")
	if r.Code != 2 || !strings.Contains(r.Stderr, "/nonexistent/inventory.ini") {
		t.Fatalf("missing inventory: want exit 2 naming it, got %d\n%s", r.Code, r.Stderr)
	}
	r = controller(t, "info", "--bogus")
	if r.Code != 2 {
		t.Fatalf("unknown flag: want exit 2, got %d\n%s", r.Code, r.Stderr)
	}
}

func TestController_HelpOnEveryCommand(t *testing.T) {
	for _, cmd := range [][]string{{"--help"}, {"info", "--help"}, {"certs", "--help"}, {"certs", "init", "--help"},
		{"deploy", "--help"}, {"rollback", "--help"}, {"history", "--help"}, {"status", "--help"},
		{"replication", "--help"}, {"replication", "setup", "--help"}, {"replication", "status", "--help"},
		{"nagios", "--help"}, {"nagios", "config", "--help"}} {
		r := controller(t, cmd...)
		if r.Code != 0 || !strings.Contains(r.Stdout, "Usage:") {
			t.Errorf("%v: exit %d\n%s", cmd, r.Code, r.Stdout)
		}
		if len(cmd) > 1 && !strings.Contains(r.Stdout, "Examples:") {
			t.Errorf("%v has no examples:\n%s", cmd, r.Stdout)
		}
	}
}

func TestController_CertsInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	ip := labtest.LoopbackIP()
	r := controller(t, "certs", "init", "--dir", dir, "--hosts", "node1="+ip+",node2=127.0.0.12")
	if r.Code != 0 {
		t.Fatalf("certs init: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, f := range []string{"ca.crt", "ca.key", "node1.crt", "node1.key", "node2.crt", "node2.key", "labcontroller.crt", "labcontroller.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s not written: %v", f, err)
		}
		if strings.HasSuffix(f, ".key") && st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	r = controller(t, "certs", "init", "--dir", dir, "--hosts", "node1=127.0.0.11")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--force") {
		t.Fatalf("overwrite without --force: want exit 2 mentioning --force, got %d\n%s", r.Code, r.Stderr)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if string(before) != string(after) {
		t.Fatal("ca.key changed although init was refused")
	}
	r = controller(t, "certs", "init", "--dir", dir, "--hosts", "node1="+ip+",node2=127.0.0.12", "--force")
	if r.Code != 0 {
		t.Fatalf("certs init --force: exit %d\n%s", r.Code, r.Stderr)
	}
	r = controller(t, "certs", "init", "--dir", dir, "--hosts", "node1")
	if r.Code != 2 || !strings.Contains(r.Stderr, "node1") {
		t.Fatalf("bad --hosts: want exit 2 naming the entry, got %d\n%s", r.Code, r.Stderr)
	}
	// The agent starts with the files init made and the controller, verifying
	// the agent's certificate for its IP, talks to it with its client certificate.
	n1 := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS, Certs: dir, IP: ip})
	inv := labInventory(t, "", n1)
	r = controller(t, "-i", inv, "info", "--ca", filepath.Join(dir, "ca.crt"),
		"--cert", filepath.Join(dir, "labcontroller.crt"), "--key", filepath.Join(dir, "labcontroller.key"))
	if r.Code != 0 {
		t.Fatalf("info with certs from certs init: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// A certificate made for another address is rejected by the controller.
	other := labtest.StartAgent(t, labtest.AgentOptions{Name: "node2", Mode: labtest.MTLS, Certs: dir})
	inv = labInventory(t, "", other)
	r = controller(t, "-i", inv, "info", "--ca", filepath.Join(dir, "ca.crt"),
		"--cert", filepath.Join(dir, "labcontroller.crt"), "--key", filepath.Join(dir, "labcontroller.key"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "certificate") {
		t.Fatalf("agent certificate for the wrong IP: want exit 1 about the certificate, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
