package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/labtest"
)

// A key or token every user on the node can read is someone else's way to
// root: the agent refuses to start with one unless told to accept it.
func TestCerts_AgentRefusesWorldReadableKeyAndToken(t *testing.T) {
	ip := labtest.LoopbackIP()
	dir := labtest.Certs(t, ip, "node1")
	key := filepath.Join(dir, "node1.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	agent := labtest.Binary(t, "labagent")
	base := []string{"--listen", labtest.FreeAddr(t, ip), "--state-dir", t.TempDir(), "--tls-cert", filepath.Join(dir, "node1.crt"), "--tls-key", key}

	r := labtest.Run(t, nil, agent, append(base, "--tls-client-ca", filepath.Join(dir, "ca.crt"))...)
	if want := "--tls-key: secret file readable by other users: " + key + " has mode 0644, so every user on this machine can read it; chmod 600 " + key; r.Code != 2 || !strings.Contains(r.Stderr, want) ||
		!strings.Contains(r.Stderr, "--allow-readable-secrets") {
		t.Fatalf("world-readable key: want exit 2 saying %q, got %d:\n%s", want, r.Code, r.Stderr)
	}

	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret-token-0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--token-file", "--monitoring-token-file"} {
		r = labtest.Run(t, nil, agent, append(base, flag, token)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, flag+": secret file readable by other users: "+token) {
			t.Errorf("world-readable %s: want exit 2 naming it, got %d:\n%s", flag, r.Code, r.Stderr)
		}
	}

	// Told to accept it (a read-only secret mount, say), it starts and warns.
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS, Certs: dir, IP: ip,
		Args: []string{"--token-file", token, "--allow-readable-secrets"}})
	waitLog(t, a, "level=WARN", "secret file readable by other users", "flag=--token-file", token)
}
