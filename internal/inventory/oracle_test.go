package inventory

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestINIHelpers_MatchAnsible asks Ansible's own ini plugin (through
// testdata/oracle.py) how it types values, splits host lines and expands
// host entries, and compares every answer with this package's.
func TestINIHelpers_MatchAnsible(t *testing.T) {
	python := ansiblePython(t)
	type request struct {
		Kind  string `json:"kind"`
		Input string `json:"input"`
	}
	var reqs []request
	for _, v := range oracleValues {
		reqs = append(reqs, request{"value", v})
	}
	for _, v := range oracleLines {
		reqs = append(reqs, request{"shlex", v})
	}
	for _, v := range oracleHostEntries {
		reqs = append(reqs, request{"hostentry", v})
	}
	in, _ := json.Marshal(reqs)
	cmd := exec.Command(python, "testdata/oracle.py")
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle.py: %v", err)
	}
	var answers []map[string]json.RawMessage
	if err := json.Unmarshal(out, &answers); err != nil || len(answers) != len(reqs) {
		t.Fatalf("oracle.py answered %d of %d: %v\n%s", len(answers), len(reqs), err, out)
	}
	skipped := 0
	defer func() { t.Logf("compared %d answers, %d skipped", len(reqs)-skipped, skipped) }()
	for i, req := range reqs {
		ans := answers[i]
		if _, skip := ans["skip"]; skip {
			skipped++ // Ansible itself could not print this value
			continue
		}
		var got any
		var gotErr error
		switch req.Kind {
		case "value":
			got, gotErr = iniValue(req.Input)
		case "shlex":
			var tokens []string
			tokens, gotErr = shlexSplit(req.Input)
			got = tokens
		case "hostentry":
			var hosts []string
			var port any
			hosts, port, gotErr = iniHostEntry(req.Input)
			if hosts == nil {
				hosts = []string{}
			}
			got = map[string]any{"hosts": hosts, "port": port}
		}
		if msg, failed := ans["error"]; failed {
			if gotErr == nil {
				t.Errorf("%s %q: Ansible fails (%s), got %#v", req.Kind, req.Input, msg, got)
			}
			continue
		}
		if gotErr != nil {
			t.Errorf("%s %q: got error %v, Ansible gives %s", req.Kind, req.Input, gotErr, ans["value"])
			continue
		}
		want := canonical(decodeJSON(t, ans["value"]))
		if g := canonical(roundTripStrings(got)); !reflect.DeepEqual(g, want) {
			t.Errorf("%s %q:\n got %s\nwant %s", req.Kind, req.Input, jsonText(got), ans["value"])
		}
	}
}

// ansiblePython returns the interpreter ansible-inventory runs with, which
// is the one that can import ansible.
func ansiblePython(t *testing.T) string {
	t.Helper()
	tool := ansibleTool(t, "ansible-inventory")
	first, _, _ := strings.Cut(readFile(t, tool), "\n")
	fields := strings.Fields(strings.TrimPrefix(first, "#!"))
	if len(fields) == 0 {
		t.Fatalf("%s has no #! line naming its Python", tool)
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		path, err := exec.LookPath(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	return fields[0]
}

// roundTripStrings turns []string into []any so canonical treats both alike.
func roundTripStrings(v any) any {
	if m, ok := v.(map[string]any); ok {
		out := map[string]any{}
		for k, x := range m {
			out[k] = roundTripStrings(x)
		}
		return out
	}
	return v
}

var oracleValues = []string{
	"", "42", "-7", "+3", "- 4", "-(5)", "--5", "-True", "0x1F", "0o17", "0b101", "0X_ff", "1_000", "1__0", "1_",
	"007", "00", "0_0", "09", "1.5", ".5", "5.", "1e3", "1E-2", "1.5e+3", "1_0.5", "1e", "1.2.3", "1e999",
	"2j", "1+2j", "True", "False", "None", "true", "none", "TRUE",
	"'single'", `"double"`, `'a' "b"`, `'it''s'`, `r'\d+'`, `b'bytes'`, `u'text'`, `f'x'`, `'a' b'b'`,
	`'tab\tx'`, `'\x41\101\u00e9\U0001F600'`, `'\q'`, `'''triple'''`, `'unterminated`,
	"[1, 2, 3]", "[1, 'two', True, None]", "[]", "[1,]", "[,]", "[1 2]", "(1, 2)", "(1,)", "()", "(1)", "1, 2", "1,",
	"{'a': 1}", "{}", "{'a': 1,}", "{1: 'x', 1.0: 'y', True: 'z'}", "{None: 1, 2.5: 2, False: 3}", "{(1, 2): 'tuple key'}",
	"{'a': [1, {'b': (2, 3)}]}", "{[1]: 2}", "{1, 2}", "set()", "{1: 2, 3}",
	"1 # comment", "[1, # comment", "x=1", "a=b=c", "value#notcomment", "spaced value  # comment?", "   5", "\t[1]",
	"1 if True else 2", "[1][0]", "1 + 2", "abc", "/usr/bin/python3", "10.11", "127.0.0.1", "1:20", "yes", "...",
	"[[[[[[[[[[1]]]]]]]]]]", "123456789012345678901234567890", "-123456789012345678901234567890", "é", "'é'",
}

var oracleLines = []string{
	"node1", "node1 ansible_host=127.0.0.11 labagent_port=7443", `h x="two words" y='single quoted'`,
	`h a=b#comment`, `h # whole comment`, `h a="#not comment"`, `h a=\#escaped`, `h a="esc \" quote" b="back\\slash" c="\n"`,
	`h a='no \ escape'`, `h ''`, `h "" x`, `h a=b\ c`, `h "unclosed`, `h 'unclosed`, `h a\`, "h\ta=1\tb=2",
	`h x="'quoted'"`, `h x=1,2 y=[1,\ 2]`,
}

var oracleHostEntries = []string{
	"node1", "node1:22", "node1:0", "node1:", "127.0.0.1", "127.0.0.1:2222", "[::1]:22", "::1", "fe80::1:22", "[fe80::zz]:22",
	"[h:1]:2", "web[1:3]", "web[1:3]:22", "db[01:03:2]", "db[01:3]", "db[1:]", "db[:3]", "n[a:c]", "n[a:c:2]", "n[c:a]",
	"n[ab:c]", "n[A:c]", "x[1:3:-1]", "x[3:1]", "x[1:3:0]", "x[a:c:0]", "x[1:3:x]", "a[1:2]b[1:2]", "a]b[1:2", "a[1:2",
	"[bad", "web[1:3", "foo_:22", "foo_", "-bar", ":9", "a b", "---", "--- ", "w[1:2]-[a:b].lab:2222", "x[-1:1]",
	"x[1:2:3:4]", "x[1]", "x|y[1:2]", "node[08:10]", "ünï[1:2]",
}
