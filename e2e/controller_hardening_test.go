package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// These run the real labcontroller against real agents: usage errors that
// touch no agent, a hung agent named instead of waited on, a long health
// gate that is not mistaken for a hang, JSON output, escaped container
// logs, and a refused client certificate explained.

// noDeployCall fails the test when the agent's log shows a Deploy call.
func noDeployCall(t *testing.T, a *labtest.Agent) {
	t.Helper()
	if strings.Contains(a.Log(), "grpc.method=Deploy") {
		t.Errorf("the agent was called:\n%s", a.Log())
	}
}

func TestController_UsageErrorsTouchNoAgent(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "usage"), Mode: labtest.Insecure})
	inv := labInventory(t, "", a)
	deploy := []string{"-i", inv, "--insecure", "deploy", "--app", "web", "--image", "labfleet-test/web:v1"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for labcontroller`},
		{[]string{"certs", "bogus"}, `unknown command "bogus" for labcontroller certs`},
		{[]string{"nagios"}, "labcontroller nagios needs a command: config (see 'labcontroller nagios --help')"},
		{[]string{"-i", inv, "--insecure", "info", "extra"}, `unknown command "extra" for "labcontroller info"`},
		{append(deploy, "--volume", "/srv/web/../../etc:/data"), `--volume "/srv/web/../../etc:/data": the host path must not contain '..'`},
		{append(deploy, "--volume", "./data:/data"), "--volume"},
		{append(deploy, "--label", "labfleet.app=other"), "--label"},
		{append(deploy, "-p", "8000:8000", "--strategy", "start-first"), "host port 8000 is fixed"},
		{append(deploy, "--health-path", "/healthz"), "needs a port to probe"},
		{append(deploy, "serve"), `unexpected argument "serve": the container's command goes after --`},
	} {
		r := controller(t, c.args...)
		if r.Code != 2 || !strings.HasPrefix(r.Stderr, "labcontroller: ") || !strings.Contains(r.Stderr, c.want) || strings.Count(r.Stderr, "\n") != 1 {
			t.Errorf("%v: want exit 2 and one line with %q, got %d:\n%s%s", c.args, c.want, r.Code, r.Stdout, r.Stderr)
		}
	}
	noDeployCall(t, a)
}

// A real agent that stops talking mid-deploy (the fault-injection build
// pauses it for 10s after it reports creating the container) is given up
// after --idle-timeout, named, and the rollout goes no further; a health
// gate longer than --idle-timeout, which the agent announces, is not a
// hang.
func TestController_HungAgentIsNamed(t *testing.T) {
	hung := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "hung"), Mode: labtest.Insecure,
		Env: []string{"LABAGENT_FAULT_PAUSE_AT=create"}})
	next := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "next"), Mode: labtest.Insecure})
	removeNodeContainers(t, hung.Name)
	removeNodeContainers(t, next.Name)
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	slow := labtest.BuildImage(t, labtest.ImageOptions{Version: "v2", Mode: labtest.ModeSlowStart})

	inv := labInventory(t, "", hung, next)
	start := time.Now()
	r := controller(t, "-i", inv, "--insecure", "deploy", "--app", "web", "--image", v1, "--version", "v1", "-p", "8000:8000",
		"--health-path", "/healthz", "--idle-timeout", "2s", "-o", "json")
	took := time.Since(start)
	want := "labcontroller: web failed on " + hung.Name + ": " + hung.Name + " sent nothing for 2s while creating the new container; it may be hung: check labagent on " + hung.Name + " (" + hung.Addr + ")"
	if r.Code != 1 || !strings.HasPrefix(r.Stderr[strings.LastIndex(strings.TrimSuffix(r.Stderr, "\n"), "\n")+1:], want) {
		t.Fatalf("deploy to a hung agent: want exit 1 and %q last on stderr, got %d:\n%s%s", want, r.Code, r.Stdout, r.Stderr)
	}
	if took > 9*time.Second {
		t.Errorf("labcontroller gave up after %s; the agent was silent for 10s and --idle-timeout is 2s", took)
	}
	var rows []struct{ Node, Result, Error string }
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatalf("-o json: stdout is not one JSON document: %v\n%s", err, r.Stdout)
	}
	if len(rows) != 2 || rows[0].Result != "error" || !strings.Contains(rows[0].Error, "sent nothing for 2s") || rows[1].Result != "not touched" {
		t.Errorf("rows = %+v", rows)
	}
	if strings.Contains(next.Log(), "grpc.method=Deploy") {
		t.Errorf("the next node was deployed after the first went silent:\n%s", next.Log())
	}

	// The next node alone, with an image whose /healthz fails for 4s: the
	// gate is silent for that long, more than --idle-timeout, and within
	// the 30s the agent announces for it.
	r = controller(t, "-i", inv, "--insecure", "--limit", next.Name, "deploy", "--app", "web", "--image", slow, "--version", "v2",
		"-p", "8000:8000", "--health-path", "/healthz", "--env", "SLOW_SECONDS=4", "--timeout", "30s", "--idle-timeout", "2s")
	if r.Code != 0 || !strings.Contains(r.Stdout, "waiting up to 30s for") {
		t.Fatalf("a 4s health gate with --idle-timeout 2s: want exit 0, got %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// -o json: stdout is one JSON document with enums by name, the progress is
// on stderr; the same for history and a dry run.
func TestController_JSONNamesEnums(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "json"), Mode: labtest.Insecure})
	removeNodeContainers(t, a.Name)
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	inv := labInventory(t, "", a)
	base := []string{"-i", inv, "--insecure", "-o", "json"}

	r := controller(t, append(base, "deploy", "--app", "web", "--image", v1, "--version", "v1", "-p", "8000:8000", "--health-path", "/healthz", "--dry-run")...)
	var plan struct {
		Nodes []struct{ Node, Outcome, Version string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &plan); r.Code != 0 || err != nil || len(plan.Nodes) != 1 || plan.Nodes[0].Outcome != "would-change" {
		t.Fatalf("dry run -o json: exit %d, %v, %+v\n%s%s", r.Code, err, plan, r.Stdout, r.Stderr)
	}

	r = controller(t, append(base, "deploy", "--app", "web", "--image", v1, "--version", "v1", "-p", "8000:8000", "--health-path", "/healthz", "--deploy-id", "json-1")...)
	var rows []struct {
		Node, Result string
		Deploy       struct{ Kind, Outcome, Version string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rows); r.Code != 0 || err != nil {
		t.Fatalf("deploy -o json: exit %d, stdout is not one JSON document (%v):\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	if len(rows) != 1 || rows[0].Result != "succeeded" || rows[0].Deploy.Kind != "deploy" || rows[0].Deploy.Outcome != "succeeded" || rows[0].Deploy.Version != "v1" {
		t.Errorf("rows = %+v", rows)
	}
	if !strings.Contains(r.Stderr, "==> "+a.Name+": deploy") || !strings.Contains(r.Stderr, "] health ") {
		t.Errorf("the progress is not on stderr:\n%s", r.Stderr)
	}

	r = controller(t, append(base, "history", "--app", "web")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"kind": "deploy"`) || !strings.Contains(r.Stdout, `"outcome": "succeeded"`) ||
		!strings.Contains(r.Stdout, `"deploy_id": "json-1"`) {
		t.Errorf("history -o json: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// A container's log line with terminal escapes is printed escaped: the
// test app prints its VERSION environment variable as it is.
func TestController_ContainerLogIsEscaped(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "esc"), Mode: labtest.Insecure})
	removeNodeContainers(t, a.Name)
	bad := labtest.BuildImage(t, labtest.ImageOptions{Version: "v9", Mode: labtest.ModeNeverHealthy})
	inv := labInventory(t, "", a)
	r := controller(t, "-i", inv, "--insecure", "deploy", "--app", "web", "--image", bad, "--version", "v9", "-p", "8000:8000",
		"--health-path", "/healthz", "--timeout", "3s", "--env", "VERSION=v9\x1b[2J\x1b[H\rFAKE")
	if r.Code != 1 || !strings.Contains(r.Stdout, "last log lines of the failed container") {
		t.Fatalf("never-healthy deploy: want exit 1 with the log tail, got %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if i := strings.IndexAny(r.Stdout+r.Stderr, "\x1b\r"); i >= 0 {
		t.Errorf("a control character reached the terminal:\n%q", r.Stdout+r.Stderr)
	}
	if !strings.Contains(r.Stdout, `\x1b[2J`) {
		t.Errorf("the log line is not shown escaped:\n%s", r.Stdout)
	}
}

// An mTLS agent that refuses our client certificate (another CA's) breaks
// the handshake off; labcontroller says which files to check. --insecure
// with only --key is refused before any connection.
func TestController_RefusedClientCertificateIsExplained(t *testing.T) {
	ip := labtest.LoopbackIP()
	dir := labtest.Certs(t, ip, "node1")
	other := labtest.Certs(t, ip, "node1")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS, Certs: dir, IP: ip})
	inv := labInventory(t, "", a)
	r := controller(t, "-i", inv, "info", "--ca", filepath.Join(dir, "ca.crt"),
		"--cert", filepath.Join(other, "labcontroller.crt"), "--key", filepath.Join(other, "labcontroller.key"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "check --cert/--key against the CA the agent trusts for clients (its --tls-client-ca)") {
		t.Fatalf("info with another CA's client certificate: want exit 1 with the hint, got %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	key := filepath.Join(dir, "labcontroller.key")
	if _, err := os.Stat(key); err != nil {
		t.Fatal(err)
	}
	plain := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "plain"), Mode: labtest.Insecure})
	r = controller(t, "-i", labInventory(t, "", plain), "--insecure", "--key", key, "info")
	if r.Code != 1 || !strings.Contains(r.Stderr, "--insecure with TLS files for "+plain.Addr+": drop one") {
		t.Fatalf("--insecure with --key alone: want it refused, got %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
