package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseINI_OriginalLab(t *testing.T) {
	inv := mustLoad(t, "testdata/inventories/lab.ini")
	want := map[string][]string{
		"controls":  {"control"},
		"nodes":     {"node1", "node2"},
		"cluster":   {"control", "node1", "node2"},
		"ungrouped": nil,
		"all":       nil,
	}
	if len(inv.Groups) != len(want) {
		t.Errorf("groups = %v, want %d of them", keys(inv.Groups), len(want))
	}
	for name, hosts := range want {
		g, ok := inv.Groups[name]
		if !ok {
			t.Fatalf("no group %q", name)
		}
		if !reflect.DeepEqual(g.Hosts, hosts) {
			t.Errorf("%s hosts = %q, want %q", name, g.Hosts, hosts)
		}
	}
	if got := inv.Groups["all"].Children; !reflect.DeepEqual(got, []string{"ungrouped", "controls", "nodes", "cluster"}) {
		t.Errorf("all children = %q", got)
	}
	if got, _ := inv.GroupHosts("all"); !reflect.DeepEqual(got, []string{"control", "node1", "node2"}) {
		t.Errorf("all hosts = %q", got)
	}
	for _, h := range inv.Hosts {
		if len(h.Vars) != 0 {
			t.Errorf("host %s has vars %v, the lab sets none", h.Name, h.Vars)
		}
	}
	if inv.Source != "testdata/inventories/lab.ini" {
		t.Errorf("Source = %q", inv.Source)
	}
}

func TestLoad_PicksFormatByExtensionThenContent(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	yamlText := "# comment\n---\nall:\n  hosts:\n    y1:\n"
	cases := []struct {
		path string
		host string
	}{
		{write("inv.yml", "all:\n  hosts:\n    y1:\n"), "y1"},
		{write("inv.yaml", "all: {hosts: {y1: }}\n"), "y1"},
		{write("inv.json", `{"all": {"hosts": {"y1": {"n": 1e3}}}}`), "y1"},
		{write("noext-yaml", yamlText), "y1"},
		{write("noext-ini", "[web]\nw1 ansible_host=127.0.0.1\n"), "w1"},
		{write("noext-hostport", "w1:22\n"), "w1"},
		{write("inv.ini", "w1\n"), "w1"},
		{write("inv.txt", "w1\n"), "w1"},
	}
	for _, c := range cases {
		inv := mustLoad(t, c.path)
		if _, ok := inv.Hosts[c.host]; !ok || len(inv.Hosts) != 1 {
			t.Errorf("%s: hosts = %v, want just %s", filepath.Base(c.path), keys(inv.Hosts), c.host)
		}
	}
	// JSON is read as JSON, where 1e3 is a number (YAML 1.1 would keep "1e3").
	if n := mustLoad(t, cases[2].path).Hosts["y1"].Vars["n"]; n != 1000.0 {
		t.Errorf("JSON 1e3 = %#v, want 1000.0", n)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A YAML-looking file named .ini is INI, as for Ansible.
	if _, err := Load(write("yaml.ini", yamlText)); err == nil {
		t.Error("YAML in a .ini file parsed")
	}
}

func TestHostVars_FollowsAnsiblePrecedence(t *testing.T) {
	inv := mustParseINI(t, `
[web]
w1 v_host=host

[db]
w1

[site:children]
web
db

[region:children]
site

[all:vars]
v_all=all
v_region=all
v_site=all
v_leaf=all
v_host=all

[region:vars]
v_region=region
v_site=region
v_leaf=region

[site:vars]
v_site=site
v_leaf=site

[db:vars]
v_leaf=db
v_dbweb=db

[web:vars]
v_leaf=web
v_dbweb=web
`)
	got := inv.HostVars("w1")
	want := map[string]any{
		"v_all": "all", "v_region": "region", "v_site": "site",
		"v_leaf":             "web", // db and web share a depth; the later name wins
		"v_dbweb":            "web",
		"v_host":             "host",
		"inventory_hostname": "w1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HostVars(w1) =\n%v\nwant\n%v", got, want)
	}

	// ansible_group_priority outranks the name at equal depth, and is not a var.
	inv.Groups["db"].priority, inv.Groups["db"].hasPriority = 10, true
	if got := inv.HostVars("w1"); got["v_leaf"] != "db" || got["v_dbweb"] != "db" {
		t.Errorf("with db priority 10: v_leaf=%v v_dbweb=%v, want db", got["v_leaf"], got["v_dbweb"])
	}

	if inv.HostVars("nope") != nil {
		t.Error("HostVars of an unknown host is not nil")
	}
}

func TestHostVars_ReturnsACopy(t *testing.T) {
	inv := mustParseINI(t, "h1 l=\"[1, 2]\"\n[all:vars]\nm={'k': 'v'}\n")
	vars := inv.HostVars("h1")
	vars["l"].([]any)[0] = 99
	vars["m"].(map[string]any)["k"] = "changed"
	again := inv.HostVars("h1")
	if again["l"].([]any)[0] != 1 || again["m"].(map[string]any)["k"] != "v" {
		t.Errorf("changing the result changed the inventory: %v", again)
	}
}

func TestHostVars_GroupPriorityFromFile(t *testing.T) {
	inv := mustLoad(t, "testdata/inventories/late.ini")
	if p := inv.Groups["db"].Priority(); p != 10 {
		t.Errorf("db priority = %d, want 10", p)
	}
	if _, ok := inv.Groups["db"].Vars["ansible_group_priority"]; ok {
		t.Error("ansible_group_priority kept as a var")
	}
	if got := inv.HostVars("w1")["shared"]; got != "from_db" {
		t.Errorf("w1 shared = %v, want from_db (priority 10 beats depth-1 other and name order)", got)
	}
}

func TestGroupHosts_OrderDescendantsAndUnknown(t *testing.T) {
	inv := mustParseINI(t, `
[top]
t1
[top:children]
mid
other
[mid]
m1
t1
[mid:children]
leaf
[leaf]
l1
[other]
o1
`)
	got, err := inv.GroupHosts("top")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"t1", "m1", "o1", "l1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("GroupHosts(top) = %q, want %q (own, children, grandchildren)", got, want)
	}
	_, err = inv.GroupHosts("tpo")
	if !errors.Is(err, ErrUnknownGroup) || !strings.Contains(err.Error(), `"tpo"`) {
		t.Errorf("unknown group error = %v", err)
	}
}

func TestParseINI_UngroupedAndAll(t *testing.T) {
	inv := mustLoad(t, "testdata/inventories/ungrouped.ini")
	// control also sits in [nodes], so it leaves ungrouped; floater is only
	// in [all], so it joins ungrouped after those listed in the file.
	if got, want := inv.Groups["ungrouped"].Hosts, []string{"loose1", "loose2", "extra", "floater"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ungrouped = %q, want %q", got, want)
	}
	if got := inv.Groups["all"].Hosts; !reflect.DeepEqual(got, []string{"floater"}) {
		t.Errorf("all's own hosts = %q, want [floater]", got)
	}
	if inv.Hosts["loose2"].Vars["ansible_port"] != 2200 {
		t.Errorf("loose2 port = %#v", inv.Hosts["loose2"].Vars["ansible_port"])
	}
	all, _ := inv.GroupHosts("all")
	if len(all) != len(inv.Hosts) {
		t.Errorf("all reaches %q, inventory has %v", all, keys(inv.Hosts))
	}
}

func TestParseINI_PortCountsOnlyWhereHostIsFirstSeen(t *testing.T) {
	inv := mustParseINI(t, "[a]\nh1:22\n[b]\nh1:33\nh2:0\n[c]\nh1 ansible_port=44\n")
	if got := inv.HostVars("h1")["ansible_port"]; got != 44 {
		t.Errorf("ansible_port = %#v, want 44 (22 from first sight, 33 ignored, then the var)", got)
	}
	if _, ok := inv.Hosts["h2"].Vars["ansible_port"]; ok {
		t.Error("port 0 was set; Ansible treats it as no port")
	}
}

func TestParseINI_Ranges(t *testing.T) {
	inv := mustLoad(t, "testdata/inventories/ranges.ini")
	want := map[string][]string{
		"web":  {"web1", "web2", "web3"},
		"db":   {"db01", "db03", "db-a.lab", "db-b.lab", "db-c.lab"},
		"edge": {"edge08-a", "edge08-b", "edge09-a", "edge09-b", "edge10-a", "edge10-b", "rack0node", "rack2node", "rack4node"},
	}
	for g, hosts := range want {
		if got := inv.Groups[g].Hosts; !reflect.DeepEqual(got, hosts) {
			t.Errorf("%s = %q, want %q", g, got, hosts)
		}
	}
	if inv.Hosts["edge09-b"].Vars["ansible_port"] != 2222 || inv.Hosts["db03"].Vars["backup"] != "yes" {
		t.Errorf("vars lost in expansion: %v %v", inv.Hosts["edge09-b"].Vars, inv.Hosts["db03"].Vars)
	}
}

func TestParseINI_Errors(t *testing.T) {
	cases := []struct {
		name, text string
		line       int
		msg        string
	}{
		{"space in header", "[ok]\nh\n[not ok]\n", 3, "invalid section header"},
		{"unknown section kind", "[g:host]\n", 1, "unknown type"},
		{"vars without equals", "[g]\nh\n[g:vars]\nx=1\ny\n", 5, "expected key=value"},
		{"child never defined", "[p:children]\nc1\n\n\n", 2, "undefined group c1"},
		{"vars for undefined group", "[g:vars]\nx=1\n", 1, "never defined"},
		{"bad range", "[g]\nh1\nweb[3:1:0]\n", 3, "bad host range"},
		{"range step letters", "web[a:c:x]\n", 1, "bad host range"},
		{"unterminated header", "[g\n", 1, "closing ']'"},
		{"bad child name", "[p:children]\nc1 c2\n", 2, "expected a group name"},
		{"loop through all", "[x:children]\nall\n[x]\n", 0, "recursive dependency loop"},
		{"empty host", "''\n", 1, "empty host name"},
		{"unhashable", "h d=\"{[1]: 2}\"\n", 1, "unhashable"},
		{"bad priority", "[g]\nh\n[g:vars]\nansible_group_priority=high\n", 4, "whole number"},
		{"not utf8", "h1\nh\xff2\n", 2, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseINI("site.ini", []byte(c.text))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *ParseError", err)
			}
			if pe.File != "site.ini" || pe.Line != c.line || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("got %q (line %d), want line %d and %q", err, pe.Line, c.line, c.msg)
			}
			prefix := "site.ini: "
			if c.line > 0 {
				prefix = "site.ini:" + strconv.Itoa(c.line) + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("%q does not start with %q", err, prefix)
			}
		})
	}
}

func TestParseYAML_Errors(t *testing.T) {
	cases := []struct {
		name, text string
		line       int
		msg        string
	}{
		{"empty", "# nothing\n", 0, "empty"},
		{"not a mapping", "- a\n- b\n", 1, "should be a dictionary"},
		{"plugin config", "plugin: constructed\n", 1, "plugin configuration"},
		{"two documents", "all: {}\n---\nall: {}\n", 2, "single document"},
		{"host vars list", "all:\n  hosts:\n    h1: [1]\n", 3, "expected a dictionary"},
		{"vars as list", "all:\n  vars:\n    - a\n", 2, "requires a dictionary"},
		{"group name not string", "all:\n  children:\n    1:\n", 3, "expected a string"},
		{"bad range", "all:\n  hosts:\n    w[1:]:\n", 3, "end value"},
		{"value equals", "all:\n  vars:\n    x: =\n", 3, "quote the '='"},
		{"bad date", "all:\n  vars:\n    x: 2001-02-30\n", 3, "not a valid date"},
		{"unknown tag", "all:\n  vars:\n    x: !custom 1\n", 3, "constructor"},
		{"alias loop", "all: &a\n  children:\n    g: *a\n", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseYAML("site.yml", []byte(c.text))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *ParseError", err)
			}
			if c.msg == "" {
				return // must fail cleanly; the line depends on yaml.v3
			}
			if pe.Line != c.line || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("got %q (line %d), want line %d and %q", err, pe.Line, c.line, c.msg)
			}
		})
	}
}

func TestParseYAML_LenientLikeAnsible(t *testing.T) {
	inv, err := ParseYAML("site.yml", []byte(`
all:
  hosts: solo
  children:
    web:
      hosts:
        w1:
      junk: {a: 1}
      also: 5
    w1grp:
      children:
        w1: [not, a, group]
skipped: [1, 2]
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inv.Groups["skipped"]; ok {
		t.Error("a list as group definition made a group")
	}
	if _, ok := inv.Hosts["solo"]; !ok {
		t.Error(`"hosts: solo" did not add solo`)
	}
	// A skipped child definition whose name is a host adds that host
	// (Ansible's add_child accepts hosts too).
	if got := inv.Groups["w1grp"].Hosts; !reflect.DeepEqual(got, []string{"w1"}) {
		t.Errorf("w1grp hosts = %q", got)
	}
	if w := inv.Warnings(); len(w) != 4 {
		t.Errorf("warnings = %q, want 4 (junk, also, w1, skipped)", w)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
