package inventory

import (
	"errors"
	"strings"
	"testing"
)

const patternInventory = `
[controls]
control

[nodes]
node1
node2
node10

[db]
db01
db02

[cluster:children]
controls
nodes

[staging]
node2
db02
`

func TestSelect_Patterns(t *testing.T) {
	inv := mustParseINI(t, patternInventory)
	cases := []struct{ group, limit, want string }{
		{"", "", "control node1 node2 node10 db01 db02"},
		{"all", "all", "control node1 node2 node10 db01 db02"},
		{"all", "*", "control node1 node2 node10 db01 db02"},
		{"cluster", "", "control node1 node2 node10"},
		{"all", "node1", "node1"},
		{"all", "nodes", "node1 node2 node10"},
		{"all", "db01:control", "control db01"}, // group order, not limit order
		{"all", "db01,control", "control db01"},
		{"all", " db01 , control ", "control db01"},
		{"all", "cluster:&staging", "node2"},
		{"all", "&staging", "node2 db02"}, // only & or ! means "all" first
		{"all", "cluster:!nodes", "control"},
		{"all", "!staging", "control node1 node10 db01"},
		{"all", "!staging:cluster", "control node1 node10"}, // ! applies last
		{"all", "node?", "node1 node2"},
		{"all", "node*", "node1 node2 node10"}, // "nodes" group matches too
		{"all", "n*1*", "node1 node10"},
		{"all", "db0[!1]", "db02"},
		{"all", "*[0-1]", "node1 node10 db01"},
		{"all", "~node\\d$", "node1 node2"},
		{"all", "~db", "db01 db02"}, // regexes match from the start only
		{"all", "~ode", ""},
		{"all", "nodes[0]", "node1"},
		{"all", "nodes[-1]", "node10"},
		{"all", "nodes[1:]", "node2 node10"},
		{"all", "nodes[0:1]", "node1 node2"}, // inclusive
		{"all", "zz*", ""},
		{"nodes", "staging", "node2"},
		{"db", "cluster", ""},
		{"all", ",,", "control node1 node2 node10 db01 db02"},
	}
	for _, c := range cases {
		got, err := inv.Select(c.group, c.limit)
		if err != nil {
			t.Errorf("Select(%q, %q): %v", c.group, c.limit, err)
			continue
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("Select(%q, %q) = %q, want %q", c.group, c.limit, got, c.want)
		}
	}
}

func TestSelect_Errors(t *testing.T) {
	inv := mustParseINI(t, patternInventory)
	for limit, name := range map[string]string{
		"nodez": "nodez", "node1:typo": "typo", "!typo": "typo", "&typo": "typo", "typo[0]": "typo", "node1.lab": "node1.lab",
	} {
		_, err := inv.Select("all", limit)
		if !errors.Is(err, ErrUnknownName) {
			t.Errorf("Select(all, %q) error = %v, want ErrUnknownName", limit, err)
			continue
		}
		if want := `unknown host or group "` + name + `" in --limit`; err.Error() != want {
			t.Errorf("Select(all, %q) error = %q, want %q", limit, err, want)
		}
	}
	if _, err := inv.Select("nosuch", ""); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("unknown group: %v", err)
	}
	if _, err := inv.Select("all", "~("); !errors.Is(err, ErrBadPattern) {
		t.Errorf("bad regex: %v", err)
	}
	if _, err := inv.Select("all", "nodes[7]"); !errors.Is(err, ErrBadPattern) {
		t.Errorf("subscript past the end: %v", err)
	}
}

func TestSplitHostPattern(t *testing.T) {
	cases := map[string]string{
		"a:b":              "a|b",
		"a,b:c":            "a|b:c",
		"web[1:3]:db":      "web[1:3]|db",
		"192.168.0.1:22":   "192.168.0.1:22",
		"fe80::1":          "fe80::1",
		"a:!b:&c":          "a|!b|&c",
		" a , b ":          "a|b",
		"":                 "",
		"host[1:2]":        "host[1:2]",
		"x[0]:y[1:]:z[-1]": "x[0]|y[1:]|z[-1]",
	}
	for in, want := range cases {
		if got := strings.Join(splitHostPattern(in), "|"); got != want {
			t.Errorf("splitHostPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGlob_FnmatchRules(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"a*", "abc", true},
		{"a*c", "abxc", true},
		{"a*c", "abcd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[ab]x", "bx", true},
		{"[!ab]x", "bx", false},
		{"[!ab]x", "cx", true},
		{"[]]", "]", true},
		{"[a-c]", "b", true},
		{"[c-a]", "b", false}, // reversed ranges are empty
		{"[a-]", "-", true},
		{"[", "[", true}, // unclosed '[' is literal
		{"a[b", "a[b", true},
		{"*.lab", "db.lab", true},
		{"*.lab", "dbxlab", false}, // '.' is literal
		{"**b", "aab", true},
		{"é*", "été", true},
	}
	for _, c := range cases {
		if got := parseGlob(c.pattern).match(c.name); got != c.want {
			t.Errorf("glob %q on %q = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}
