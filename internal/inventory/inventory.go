// Package inventory reads the lab's Ansible inventory so that labcontroller,
// check_deploy and the Ansible dynamic inventory pick hosts and their
// variables the way ansible-playbook would.
//
// It understands the two file formats the lab uses, INI and YAML, resolves
// groups, children and variable precedence as ansible-core 2.14 does, and
// evaluates --limit host patterns. ListJSON gives the same structure that
// `ansible-inventory -i FILE --list` prints, which is how the tests check it.
//
// It only ever reads the inventory file it is given. It never runs Python,
// ansible or an inventory script, never reads group_vars/ or host_vars/
// directories, never decrypts vault values and never renders Jinja templates.
package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Inventory is a parsed Ansible inventory.
type Inventory struct {
	Source string            // file path
	Hosts  map[string]*Host  // every host, by name
	Groups map[string]*Group // always contains "all" and "ungrouped"

	// Ansible keeps hosts and groups in the order it first saw them, and
	// that order shows in ListJSON ("all" children, "ungrouped" hosts).
	hostOrder  []string
	groupOrder []string
	warnings   []string
}

// Warnings returns what Ansible would print as warnings while reading the
// file (skipped YAML keys, duplicate keys), each prefixed with file:line.
func (inv *Inventory) Warnings() []string {
	return append([]string(nil), inv.warnings...)
}

// Host is one inventory host.
type Host struct {
	Name string
	Vars map[string]any // vars set on the host itself
}

// Group is one inventory group.
type Group struct {
	Name     string
	Hosts    []string // direct hosts, in file order
	Children []string // direct child groups, in file order
	Vars     map[string]any

	// priority is ansible_group_priority; Ansible keeps it out of Vars.
	priority    int
	hasPriority bool
	members     map[string]bool // Hosts as a set, while parsing
}

// Priority returns the group's ansible_group_priority (1 unless set).
func (g *Group) Priority() int {
	if !g.hasPriority {
		return 1
	}
	return g.priority
}

// ParseError carries file and line.
type ParseError struct {
	File string
	Line int // 1-based; 0 when the problem has no single line
	Msg  string
}

// Error returns "FILE:LINE: MSG" (or "FILE: MSG" when Line is 0).
func (e *ParseError) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

var (
	// ErrUnknownGroup is wrapped by errors about a group name the inventory lacks.
	ErrUnknownGroup = errors.New("unknown group")
	// ErrUnknownName is wrapped by a --limit pattern naming nothing in the inventory.
	ErrUnknownName = errors.New("unknown host or group")
	// ErrBadPattern is wrapped by errors about a malformed host pattern.
	ErrBadPattern = errors.New("invalid host pattern")
)

// Load reads an inventory file. Files ending in .yml, .yaml or .json are
// YAML; a file without extension is YAML when its content starts as a YAML
// mapping; anything else is INI. That is the order in which Ansible's yaml
// and ini plugins claim files.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read inventory: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yml", ".yaml", ".json":
		return ParseYAML(path, data)
	case "":
		if looksLikeYAML(data) {
			return ParseYAML(path, data)
		}
	}
	return ParseINI(path, data)
}

// looksLikeYAML reports whether the first meaningful line is a YAML document
// marker, a JSON object or a "key:" mapping entry. INI files start with a
// [section] or a host line, neither of which has a colon followed by a space.
func looksLikeYAML(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '%' {
			continue
		}
		if line == "---" || strings.HasPrefix(line, "--- ") || line[0] == '{' {
			return true
		}
		if line[0] == '[' || line[0] == ' ' || line[0] == '\t' {
			return false
		}
		if i := strings.Index(line, ":"); i > 0 {
			rest := line[i+1:]
			return (rest == "" || rest[0] == ' ' || rest[0] == '\t') &&
				!strings.ContainsAny(line[:i], "= ")
		}
		return false
	}
	return false
}

// newInventory returns an inventory holding only the implicit groups.
func newInventory(source string) *Inventory {
	inv := &Inventory{Source: source, Hosts: map[string]*Host{}, Groups: map[string]*Group{}}
	inv.addGroup("all")
	inv.addGroup("ungrouped")
	inv.Groups["all"].Children = []string{"ungrouped"}
	return inv
}

// addGroup creates the group if needed.
func (inv *Inventory) addGroup(name string) *Group {
	if g, ok := inv.Groups[name]; ok {
		return g
	}
	g := &Group{Name: name, Vars: map[string]any{}}
	inv.Groups[name] = g
	inv.groupOrder = append(inv.groupOrder, name)
	return g
}

// addHost creates the host if needed and puts it in group. Like Ansible, a
// port only counts where the host is first seen.
func (inv *Inventory) addHost(name, group string, port any) error {
	if name == "" {
		return errors.New("invalid empty host name; remove the empty entry")
	}
	h, ok := inv.Hosts[name]
	if !ok {
		h = &Host{Name: name, Vars: map[string]any{}}
		if port != nil && !isZeroInt(port) {
			h.Vars["ansible_port"] = port
		}
		inv.Hosts[name] = h
		inv.hostOrder = append(inv.hostOrder, name)
	}
	inv.Groups[group].addHost(name)
	return nil
}

// addHost appends a host unless the group has it already. The lookup set is
// built on first use so that big ranges stay linear.
func (g *Group) addHost(name string) {
	if g.members == nil {
		g.members = make(map[string]bool, len(g.Hosts))
		for _, h := range g.Hosts {
			g.members[h] = true
		}
	}
	if !g.members[name] {
		g.members[name] = true
		g.Hosts = append(g.Hosts, name)
	}
}

// addChild makes child (a group, or failing that a host) a member of parent,
// refusing edges that would make a loop.
func (inv *Inventory) addChild(parent, child string) error {
	p, ok := inv.Groups[parent]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownGroup, parent)
	}
	if _, ok := inv.Groups[child]; !ok {
		if _, ok := inv.Hosts[child]; ok {
			p.addHost(child)
			return nil
		}
		return fmt.Errorf("%s is not a known host nor group", child)
	}
	if parent == child {
		return fmt.Errorf("can't add group %s to itself", child)
	}
	if containsString(p.Children, child) {
		return nil
	}
	if inv.ancestors(parent)[child] {
		return fmt.Errorf("adding group %q as child to %q creates a recursive dependency loop", child, parent)
	}
	p.Children = append(p.Children, child)
	return nil
}

// setGroupVar sets a group variable; ansible_group_priority is kept aside as
// Ansible does, and must be a whole number.
func (inv *Inventory) setGroupVar(group, key string, value any) error {
	g := inv.Groups[group]
	if key == "ansible_group_priority" {
		p, err := pyIntOf(value)
		if err != nil {
			return fmt.Errorf("ansible_group_priority of group %s must be a whole number: %v", group, err)
		}
		g.priority, g.hasPriority = p, true
		return nil
	}
	g.Vars[key] = value
	return nil
}

// finish applies the rules Ansible enforces after every source is read:
// parentless groups become children of "all", and "ungrouped" holds exactly
// the hosts that are in no other group.
func (inv *Inventory) finish() error {
	parents := inv.parents()
	if len(parents["all"]) > 0 {
		return fmt.Errorf("group all is a child of %s, which creates a recursive dependency loop; remove it from that group's children",
			strings.Join(parents["all"], ", "))
	}
	all := inv.Groups["all"]
	for _, name := range inv.groupOrder {
		if name != "all" && len(parents[name]) == 0 && !containsString(all.Children, name) {
			all.Children = append(all.Children, name)
		}
	}
	ungrouped := inv.Groups["ungrouped"]
	member := inv.memberships()
	drop, add := map[string]bool{}, []string(nil)
	for _, host := range inv.hostOrder {
		groups := member[host]
		if groups["ungrouped"] {
			for g := range groups {
				if g != "all" && g != "ungrouped" {
					drop[host] = true
					break
				}
			}
		} else if len(groups) == 0 || (len(groups) == 1 && groups["all"]) {
			add = append(add, host)
		}
	}
	kept := ungrouped.Hosts[:0]
	for _, h := range ungrouped.Hosts {
		if !drop[h] {
			kept = append(kept, h)
		}
	}
	ungrouped.Hosts = append(kept, add...)
	for _, g := range inv.Groups {
		g.members = nil // parsing is over; Hosts is the truth from here on
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
