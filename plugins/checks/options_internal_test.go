//go:build !labfleet_lean

package checks

import (
	"strings"
	"testing"

	"github.com/labfleet/labfleet/plugins/pluginkit"
)

// Bad options are UNKNOWN with a message naming the option, found before
// any target is contacted (none of these addresses is ever dialled): not a
// CRITICAL about a connection that was never going to work.
func TestOptions_AreUnknownBeforeAnyCall(t *testing.T) {
	for _, tc := range []struct {
		spec pluginkit.Spec
		args []string
		want string
	}{
		{checkDeploy, []string{"--app", "web", "--insecure", "--hosts", "127.0.0.1,,127.0.0.2"}, `--hosts "": an empty entry; want HOST or HOST:PORT`},
		{checkDeploy, []string{"--app", "web", "--insecure", "--hosts", "node1:http"}, `--hosts "node1:http": port "http" is not a port number`},
		{checkDeploy, []string{"--app", "web", "--insecure", "--hosts", "node1:70000"}, `port "70000" is not a port number`},
		{checkDeploy, []string{"--app", "web", "--insecure", "--hosts", "node1:0"}, `port "0" is not a port number`},
		{checkDeploy, []string{"--app", "web", "--insecure", "--hosts", "http://node1:7443"}, `--hosts "http://node1:7443": not an address`},
		{checkDeploy, []string{"--app", "web", "--insecure", "--hosts", "node@1:7443"}, `--hosts "node@1:7443": not a host name or address`},
		{checkDeploy, []string{"--app", "web", "--insecure", "--hosts", "node1,node1:7443"}, "--hosts: node1:7443 is listed twice"},
		{checkDeploy, []string{"--app", "web", "--insecure", "--hosts", "node1", "--limit", "node2"}, "--group and --limit select from an inventory"},
		{checkDeploy, []string{"--app", "Web!", "--insecure", "--hosts", "node1"}, `invalid --app: "Web!" must be 1-63 lower-case`},
		{checkContainer, []string{"-H", "127.0.0.1", "--insecure", "--app", "Web!"}, `invalid --app: "Web!"`},
		{checkContainer, []string{"-H", "127.0.0.1", "--insecure", "--expect-digest", "latest"}, `--expect-digest "latest": want ALGORITHM:HEX`},
		{checkNode, []string{"-H", "127.0.0.1", "--insecure", "--mount", "var/lib/docker"}, `--mount "var/lib/docker": want an absolute path`},
		{checkHAProxy, []string{"--csv-url", "ftp://127.0.0.1/stats;csv"}, `--csv-url "ftp://127.0.0.1/stats;csv": want the stats page's http(s) URL`},
		{checkHAProxy, []string{"--csv-url", "127.0.0.1:8404/stats;csv"}, "want the stats page's http(s) URL"},
		{checkHAProxy, []string{"--csv-url", "http:///stats;csv"}, "want the stats page's http(s) URL"},
		{checkApp, []string{"-H", "http://127.0.0.1"}, `-H "http://127.0.0.1": want a host name or address only`},
		{checkApp, []string{"-H", "127.0.0.1:8000"}, "want a host name or address only"},
		{checkApp, []string{"-H", "[::1]"}, "IPv6 without brackets"},
		{checkApp, []string{"-H", "127.0.0.1", "-p", "70000"}, "-p 70000 is not a port number"},
		{checkLabagent, []string{"-H", "127.0.0.1", "--insecure", "--cert-warning", "5", "--cert-critical", "10"}, "--cert-warning 5 --cert-critical 10: want days with warning >= critical >= 0"},
	} {
		var b strings.Builder
		code := pluginkit.Run(tc.spec, tc.args, &b)
		out := b.String()
		if code != 3 || !strings.HasPrefix(out, tc.spec.Label+" UNKNOWN: ") || !strings.Contains(out, tc.want) || !strings.Contains(out, "(see "+tc.spec.Name+" --help)") {
			t.Errorf("%s %v: exit %d\n%s\nwant UNKNOWN with %q", tc.spec.Name, tc.args, code, out, tc.want)
		}
	}
}

func TestHostAddr(t *testing.T) {
	for in, want := range map[string]string{
		"node1": "node1:7443", " 10.0.0.3:7000 ": "10.0.0.3:7000", "::1": "[::1]:7443", "[2001:db8::5]:7443": "[2001:db8::5]:7443",
		"[2001:db8::5]": "[2001:db8::5]:7443", "node2.lab:65535": "node2.lab:65535",
	} {
		if got, err := hostAddr(in); err != nil || got != want {
			t.Errorf("hostAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
