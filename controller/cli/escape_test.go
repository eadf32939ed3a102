package cli_test

import (
	"strings"
	"testing"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// evil is what a broken or malicious container or agent might send: a
// screen clear, a carriage return over our line, a line break that fakes
// a line of ours, and a right-to-left override.
const evil = "\x1b[2J\rgone\nnode9: SUCCEEDED: fake\u202e"

// evilEscaped is evil as labcontroller prints it.
const evilEscaped = `\x1b[2J\rgone\nnode9: SUCCEEDED: fake\u202e`

// noControl fails the test when s could move a terminal's cursor or fake
// a line: a control character other than newline, or the fake line.
func noControl(t *testing.T, what, s string) {
	t.Helper()
	if i := strings.IndexFunc(s, func(r rune) bool { return (r < 0x20 && r != '\n') || r == 0x7f || r == '\u202e' }); i >= 0 {
		t.Errorf("%s holds control character %q at %d:\n%q", what, s[i:i+1], i, s)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "node9") {
			t.Errorf("%s has a faked line %q", what, l)
		}
	}
}

func TestOutput_AgentTextIsEscaped(t *testing.T) {
	bad := &fakeAgent{name: "node1", running: "v1", echo: evil, fail: true}
	inv := fleet(t, bad)

	// Progress, result messages and the failed container's log lines;
	// a log line's own line break becomes a second indented line.
	code, out, errs := run(t, deployArgs(t, inv)...)
	if code != 1 {
		t.Fatalf("deploy: exit %d, stderr %q", code, errs)
	}
	noControl(t, "deploy stdout", out)
	noControl(t, "deploy stderr", errs)
	contains(t, "deploy stdout", out, "pulling todo:v2"+evilEscaped,
		"      | panic: cannot reach the database\\x1b[2J\\rgone\n      | node9: SUCCEEDED: fake\\u202e\n")

	// Multi-line log entries keep their lines, indented.
	bad.mu.Lock()
	bad.echo = "\nsecond line\x1b[31m"
	bad.mu.Unlock()
	_, out, _ = run(t, deployArgs(t, inv)...)
	contains(t, "deploy stdout", out, "      | panic: cannot reach the database\n      | second line\\x1b[31m\n")

	// status, history and info print the agent's values escaped.
	a := &fakeAgent{name: "node1", running: "v2" + evil, previous: "v1"}
	a.history = []*agentv1.DeployResult{{DeployId: "d1", App: "todo", Version: "v2" + evil, Caller: evil, Message: evil}}
	inv = fleet(t, a)
	for _, args := range [][]string{{"status"}, {"history"}, {"status", "--check", "--app", "todo"}} {
		_, out, errs := run(t, append([]string{"-i", inv}, args...)...)
		noControl(t, strings.Join(args, " ")+" stdout", out)
		noControl(t, strings.Join(args, " ")+" stderr", errs)
		if !strings.Contains(out, `v2\x1b[2J\rgone\nnode9`) {
			t.Errorf("%v: the version is not shown escaped:\n%s", args, out)
		}
	}
}

// A secret is masked however it is printed, raw or escaped.
func TestOutput_EscapedSecretIsMasked(t *testing.T) {
	t.Setenv("ODD_SECRET", "pa\x1bss-word")
	inv := fleet(t, &fakeAgent{name: "node1", running: "v1", echo: " pa\x1bss-word", fail: true})
	code, out, errs := run(t, "-i", inv, "deploy", "--app", "todo", "--image", "todo:v2", "--secret-env", "ODD_SECRET", "--health", "none")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(out+errs, "ss-word") {
		t.Errorf("the secret shows:\n%s%s", out, errs)
	}
}
