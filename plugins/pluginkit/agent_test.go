//go:build !labfleet_lean

package pluginkit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/agentclient"
)

// A key or token every user on the Nagios server may read is refused
// (UNKNOWN, with the chmod to run); one shared with a group is fine.
func TestDialAgent_RefusesWorldReadableSecrets(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("0123456789abcdef-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		o    agentclient.Options
		want string
	}{
		{"token 0644", agentclient.Options{TokenFile: file("token-644", 0o644)}, "refusing --token-file: "},
		{"token 0606", agentclient.Options{TokenFile: file("token-606", 0o606)}, "refusing --token-file: "},
		{"key 0644", agentclient.Options{CertFile: file("c.crt", 0o644), KeyFile: file("c.key", 0o644)}, "refusing --key: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Addr, tc.o.Spelling = "127.0.0.1:7443", Spelling
			c, err := DialAgent(tc.o)
			if c != nil {
				c.Close()
			}
			if !errors.Is(err, ErrUsage) || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), "chmod 600 ") {
				t.Errorf("err = %v, want a usage error starting %q with the chmod to run", err, tc.want)
			}
		})
	}
	c, err := DialAgent(agentclient.Options{Addr: "127.0.0.1:7443", Insecure: true, TokenFile: file("token-640", 0o640), Spelling: Spelling})
	if err != nil {
		t.Fatalf("a 0640 token file: %v", err)
	}
	c.Close()
}
