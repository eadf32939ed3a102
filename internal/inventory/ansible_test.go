package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// These tests hold the package to what Debian's ansible-core prints for the
// same files.

// TestListJSON_MatchesAnsibleInventory compares ListJSON with
// `ansible-inventory -i FILE --list` for every fixture inventory. Top-level
// groups and hostvars are JSON objects, so their order never matters; the
// "hosts" and "children" lists are compared in order because Ansible's order
// there is the file order.
func TestListJSON_MatchesAnsibleInventory(t *testing.T) {
	for _, path := range fixtures(t, "inventories") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			stdout, stderr, err := runAnsible(t, "ansible-inventory", "-i", absPath(t, path), "--list")
			if err != nil {
				t.Fatalf("ansible-inventory failed: %v\n%s", err, stderr)
			}
			want := decodeJSON(t, stdout)

			got := mustLoad(t, path).ListJSON()
			if !reflect.DeepEqual(canonical(got), canonical(want)) {
				t.Errorf("ListJSON differs from ansible-inventory --list\n got: %s\nwant: %s", jsonText(got), stdout)
			}

			// The same after a JSON round trip, comparing numbers by value,
			// so that what callers print is what Ansible prints.
			data, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("ListJSON does not marshal: %v", err)
			}
			if a, b := byValue(decodeJSON(t, data)), byValue(want); !reflect.DeepEqual(a, b) {
				t.Errorf("ListJSON JSON differs from ansible-inventory --list\n got: %s\nwant: %s", data, stdout)
			}
		})
	}
}

// byValue turns every JSON number into its float64 value.
func byValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, _ := strconv.ParseFloat(v.String(), 64)
		return f
	case []any:
		for i := range v {
			v[i] = byValue(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = byValue(v[k])
		}
	}
	return v
}

// TestParseErrors_MatchAnsibleInventory checks that every broken fixture is
// refused both by ansible-inventory and by Load, with a *ParseError on the
// line the fixture's first line names ("# want: LINE text"), and on the line
// Ansible names where Ansible names one.
func TestParseErrors_MatchAnsibleInventory(t *testing.T) {
	wantRE := regexp.MustCompile(`^# want: (\d+) (.+)`)
	for _, path := range fixtures(t, "errors") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			first, _, _ := strings.Cut(readFile(t, path), "\n")
			m := wantRE.FindStringSubmatch(first)
			if m == nil {
				t.Fatalf("first line must be '# want: LINE text', got %q", first)
			}
			wantLine, _ := strconv.Atoi(m[1])

			_, err := Load(path)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Load returned %v, want a *ParseError", err)
			}
			if pe.Line != wantLine || pe.File != path || !strings.Contains(pe.Msg, m[2]) {
				t.Errorf("got %q, want line %d and text %q", err, wantLine, m[2])
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d: ", path, wantLine)) {
				t.Errorf("message %q does not start with file:line", err)
			}

			_, stderr, aerr := runAnsible(t, "ansible-inventory", "-i", absPath(t, path), "--list")
			if aerr == nil {
				t.Fatalf("ansible-inventory accepted %s", path)
			}
			flat := strings.Join(strings.Fields(stderr), " ") // Ansible wraps warnings
			ansibleLine := regexp.MustCompile(regexp.QuoteMeta(filepath.Base(path)) + `:(\d+):`).FindStringSubmatch(flat)
			if ansibleLine != nil && ansibleLine[1] != m[1] {
				t.Errorf("Ansible reports line %s, fixture wants %d:\n%s", ansibleLine[1], wantLine, stderr)
			}
		})
	}
}

// TestSelect_MatchesAnsible compares Select with
// `ansible -i FILE GROUP --list-hosts --limit LIMIT`.
func TestSelect_MatchesAnsible(t *testing.T) {
	cases := []struct{ file, group, limit string }{
		{"lab.ini", "all", ""},
		{"lab.ini", "cluster", "nodes"},
		{"lab.ini", "all", "node*"},
		{"lab.ini", "cluster", "all:!control"},
		{"hostvars.ini", "all", "nodes:!node2:control"},
		{"hostvars.ini", "cluster", "cluster:&nodes"},
		{"hostvars.ini", "all", "~node[12]"},
		{"hostvars.ini", "nodes", "control,node2"},
		{"ranges.ini", "all", "db*[0:1]"},
		{"ranges.ini", "all", "web[-1]"},
		{"ranges.ini", "mixed", "*"},
		{"ranges.ini", "all", "edge[1:]:!*-b"},
		{"ranges.ini", "all", "db-[ab].lab"},
		{"ungrouped.ini", "all", "ungrouped"},
		{"ungrouped.ini", "ungrouped", "!loose1"},
		{"late.ini", "everything", "&db"},
		{"typed.yml", "all", "g*"},
	}
	hostLine := regexp.MustCompile(`^ {4}(\S.*)$`)
	for _, c := range cases {
		t.Run(c.file+" "+c.group+" "+c.limit, func(t *testing.T) {
			path := filepath.Join("testdata", "inventories", c.file)
			args := []string{"-i", absPath(t, path), c.group, "--list-hosts"}
			if c.limit != "" {
				args = append(args, "--limit", c.limit)
			}
			stdout, stderr, err := runAnsible(t, "ansible", args...)
			want := []string{}
			if err == nil {
				for _, line := range strings.Split(string(stdout), "\n") {
					if m := hostLine.FindStringSubmatch(line); m != nil {
						want = append(want, m[1])
					}
				}
			} else if !strings.Contains(stderr, "no hosts") {
				t.Fatalf("ansible failed: %v\n%s", err, stderr)
			}
			got, err := mustLoad(t, path).Select(c.group, c.limit)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("Select(%q, %q) = %q, ansible lists %q", c.group, c.limit, got, want)
			}
		})
	}
}
