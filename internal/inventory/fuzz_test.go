package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseINI checks that no input panics, that every failure is a
// *ParseError naming the file, and that every inventory that parses is
// consistent: groups and hosts refer to each other, "all" reaches every host,
// and the query methods work on it.
func FuzzParseINI(f *testing.F) {
	paths, _ := filepath.Glob("testdata/inventories/*.ini")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"h1\n[g]\nh2 a=1\n[g:vars]\nb=[1,2]\n[p:children]\ng\n",
		"[a:children]\nb\n[b:vars]\nx=1\n[b]\nh\n",
		"w[01:10:3]-[a:c]:22 x=\"{'k': (1, 2)}\"\n",
		"[x:children]\nall\n",
		"[a]\nh\n[a:children]\na\n",
		"h y='\\x41' z=b'q' n=-(5) s=\"'a' 'b'\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseINI("fuzz.ini", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "fuzz.ini" || !strings.HasPrefix(err.Error(), "fuzz.ini:") {
				t.Fatalf("error %v (%T) is not a ParseError for fuzz.ini", err, err)
			}
			return
		}
		checkConsistent(t, inv)
	})
}

func checkConsistent(t *testing.T, inv *Inventory) {
	t.Helper()
	for _, name := range []string{"all", "ungrouped"} {
		if inv.Groups[name] == nil {
			t.Fatalf("group %s missing", name)
		}
	}
	for name, g := range inv.Groups {
		if g.Name != name {
			t.Fatalf("group %q is filed under %q", g.Name, name)
		}
		for _, h := range g.Hosts {
			if inv.Hosts[h] == nil {
				t.Fatalf("group %s lists unknown host %q", name, h)
			}
		}
		for _, c := range g.Children {
			if inv.Groups[c] == nil {
				t.Fatalf("group %s lists unknown child %q", name, c)
			}
		}
		if _, err := inv.GroupHosts(name); err != nil {
			t.Fatalf("GroupHosts(%s): %v", name, err)
		}
	}
	reached := map[string]bool{}
	for _, g := range inv.descendants("all") {
		reached[g] = true
	}
	if len(reached) != len(inv.Groups) {
		t.Fatalf("all reaches %d of %d groups", len(reached), len(inv.Groups))
	}
	all, _ := inv.GroupHosts("all")
	if len(all) != len(inv.Hosts) {
		t.Fatalf("all reaches %d of %d hosts", len(all), len(inv.Hosts))
	}
	for i, h := range all {
		if i == 50 { // HostVars scans the inventory; big ranges make this slow
			break
		}
		if inv.HostVars(h)["inventory_hostname"] != h {
			t.Fatalf("HostVars(%q) lacks inventory_hostname", h)
		}
	}
	hostvars := inv.ListJSON()["_meta"].(map[string]any)["hostvars"].(map[string]any)
	for h := range hostvars {
		if inv.Hosts[h] == nil {
			t.Fatalf("ListJSON has vars for unknown host %q", h)
		}
	}
	if _, err := inv.Select("all", "*"); err != nil {
		t.Fatalf("Select(all, *): %v", err)
	}
}

// TestFixtures_AreConsistent applies the fuzz checks to every fixture.
func TestFixtures_AreConsistent(t *testing.T) {
	for _, path := range fixtures(t, "inventories") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			checkConsistent(t, mustLoad(t, path))
		})
	}
}

// FuzzParseYAML holds the YAML reader to the same promises.
func FuzzParseYAML(f *testing.F) {
	for _, pattern := range []string{"testdata/inventories/*.yml", "testdata/inventories/*.yaml", "testdata/errors/*.yml"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("all:\n  vars: &v {a: 1}\n  children:\n    g:\n      vars: {<<: *v, b: 2}\n      hosts: h[1:3]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseYAML("fuzz.yml", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "fuzz.yml" {
				t.Fatalf("error %v (%T) is not a ParseError for fuzz.yml", err, err)
			}
			return
		}
		checkConsistent(t, inv)
	})
}
