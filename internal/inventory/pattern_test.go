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
	// Hosts come in the group's order, which for "all" is Ansible's: its
	// children's hosts (db, staging), then grandchildren's (controls, nodes).
	const everyone = "db01 db02 node2 control node1 node10"
	cases := []struct{ group, limit, want string }{
		{"", "", everyone},
		{"all", "all", everyone},
		{"all", "*", everyone},
		{"all", ",,", everyone},
		{"cluster", "", "control node1 node2 node10"},
		{"all", "node1", "node1"},
		{"all", "nodes", "node2 node1 node10"},
		{"cluster", "node1:control", "control node1"}, // group order, not limit order
		{"cluster", "node1,control", "control node1"},
		{"cluster", " node1 , control ", "control node1"},
		{"all", "cluster:&staging", "node2"},
		{"all", "&staging", "db02 node2"}, // only & or ! means "all" first
		{"all", "cluster:!nodes", "control"},
		{"all", "!staging", "db01 control node1 node10"},
		{"all", "!staging:cluster", "control node1 node10"}, // ! applies last
		{"all", "node?", "node2 node1 node10"},              // "nodes" is a group name too
		{"all", "node1?", "node10"},
		{"all", "node*", "node2 node1 node10"}, // the nodes group matches too
		{"all", "n*1*", "node1 node10"},
		{"all", "db0[!1]", "db02"},
		{"all", "node[!s2]", "node1"},
		{"all", "*[0-1]", "db01 db02"}, // a subscript (old x-y form), not a class
		{"all", "~node\\d$", "node2 node1"},
		{"all", "~db", "db01 db02"}, // regexes match from the start only
		{"all", "~ode", ""},
		{"all", "nodes[0]", "node1"},
		{"all", "nodes[-1]", "node10"},
		{"all", "nodes[1:]", "node2 node10"},
		{"all", "nodes[0:1]", "node2 node1"}, // inclusive: node1 and node2
		{"all", "zz*", ""},
		{"nodes", "staging", "node2"},
		{"db", "cluster", ""},
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
