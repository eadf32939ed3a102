package checks_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/labfleet/labfleet/internal/labtest"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

func agentArgs(t *testing.T, a *labtest.Agent, extra ...string) []string {
	t.Helper()
	host, port := pt.SplitAddr(t, a.Addr)
	return append([]string{"-H", host, "-p", port}, extra...)
}

func TestCheckLabagent(t *testing.T) {
	t.Parallel()
	plain := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1"})
	mtls := labtest.StartAgent(t, labtest.AgentOptions{Name: "node2", Mode: labtest.MTLS})
	token := labtest.StartAgent(t, labtest.AgentOptions{Name: "node3", Mode: labtest.Token})
	noDocker := labtest.StartAgent(t, labtest.AgentOptions{Name: "node4", Args: []string{"--docker-host", "unix:///nonexistent/docker.sock"}})
	hn, _ := os.Hostname()
	norm := []pt.Norm{pt.Literal("(host "+hn+")", "(host HOSTNAME)"), pt.AgentVersion(t, plain)}
	run := func(t *testing.T, env []string, args ...string) pt.Result {
		t.Helper()
		return pt.Run(t, env, "check_labagent", args...)
	}

	t.Run("OK_Insecure", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, plain, "--insecure", "-v")...)
		r.Want(t, 0, "LABAGENT OK: agent node1 ", " SERVING, Docker ", "'rtt'=", "capabilities: info, node-stats")
		pt.Golden(t, "labagent_ok", r, norm...)
	})
	t.Run("OK_MutualTLS", func(t *testing.T) {
		c := mtls.Certs
		r := run(t, nil, agentArgs(t, mtls, "--cacert", filepath.Join(c, "ca.crt"), "--cert", filepath.Join(c, "labcontroller.crt"),
			"--key", filepath.Join(c, "labcontroller.key"), "-v")...)
		r.Want(t, 0, "LABAGENT OK: agent node2 ", "the agent sees this caller as \"cert:labcontroller\"")
	})
	t.Run("OK_Token", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, token, "--cacert", filepath.Join(token.Certs, "ca.crt"), "--token-file", token.Token, "-v")...)
		r.Want(t, 0, "LABAGENT OK: agent node3 ", "the agent sees this caller as \"token\"")
	})
	t.Run("WARNING_RoundTripTime", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, plain, "--insecure", "-w", "0", "-c", "10")...)
		r.Want(t, 1, "LABAGENT WARNING: agent node1 round trip ", " breaches -w 0 | 'rtt'=", ";0;10;0")
		pt.Golden(t, "labagent_warning_rtt", r, norm...)
	})
	t.Run("WARNING_MinVersion", func(t *testing.T) {
		// Test agents are development builds, whose version no release
		// number can be compared with; the plugin says so rather than
		// guess (TestCompareVersions covers the comparison itself).
		r := run(t, nil, agentArgs(t, plain, "--insecure", "--min-version", "v1.2.0")...)
		r.Want(t, 1, "which cannot be compared with --min-version v1.2.0")
		pt.Golden(t, "labagent_warning_min_version", r, norm...)
	})
	t.Run("CRITICAL_DockerUnreachable", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, noDocker, "--insecure")...)
		r.Want(t, 2, "LABAGENT CRITICAL: agent node4 cannot reach its Docker Engine: ", "/nonexistent/docker.sock")
		pt.Golden(t, "labagent_critical_docker", r, norm...)
	})
	t.Run("CRITICAL_Refused", func(t *testing.T) {
		host, port := pt.SplitAddr(t, pt.ClosedAddr(t))
		r := run(t, nil, "-H", host, "-p", port, "--insecure")
		r.Want(t, 2, "connection refused (is labagent running and listening there?)")
		pt.Golden(t, "labagent_critical_refused", r)
	})
	t.Run("CRITICAL_WrongToken", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(bad, []byte("not-the-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := run(t, nil, agentArgs(t, token, "--cacert", filepath.Join(token.Certs, "ca.crt"), "--token-file", bad)...)
		r.Want(t, 2, "LABAGENT CRITICAL: agent at ", "refused our credentials")
	})
	t.Run("CRITICAL_PlaintextToTLS", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, mtls, "--insecure")...)
		r.Want(t, 2, "LABAGENT CRITICAL: cannot reach agent at ")
	})
	t.Run("UNKNOWN_BadRange", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, plain, "--insecure", "-c", "5:1")...)
		r.Want(t, 3)
		pt.Golden(t, "labagent_unknown_range", r)
	})
	t.Run("UNKNOWN_Options", func(t *testing.T) {
		run(t, nil, "--insecure").Want(t, 3, "LABAGENT UNKNOWN: -H HOST is required (see check_labagent --help)")
		run(t, nil, agentArgs(t, plain, "--insecure", "--cacert", "/nonexistent/ca.crt")...).Want(t, 3, "--insecure with TLS files")
		run(t, nil, agentArgs(t, token, "--token-file", "/nonexistent/token")...).Want(t, 3, "cannot read the token file")
		run(t, nil, agentArgs(t, plain, "--insecure", "--min-version", "latest")...).Want(t, 3, `--min-version "latest" is not a version`)
	})
	t.Run("UNKNOWN_HelpAndVersion", func(t *testing.T) {
		r := run(t, nil, "--help")
		r.Want(t, 3, "Usage: check_labagent -H HOST", "-w, --warning RANGE", "--min-version VERSION", "@10:20 alert inside 10..20")
		pt.Golden(t, "labagent_help", r, pt.Regexp(`\(labfleet\) \S+`, "(labfleet) VERSION"))
		run(t, nil, "-V").Want(t, 3, "check_labagent (labfleet) ")
	})
}
