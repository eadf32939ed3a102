package inventory

import (
	"fmt"
	"sort"
	"strings"
)

// HostVars returns the variables a play would see for host from the
// inventory alone, merged the way Ansible does: "all" first, then every group
// the host belongs to (directly or through children) ordered by depth,
// ansible_group_priority and name, then the host's own vars. It adds
// inventory_hostname. It returns nil for an unknown host. The result is a
// copy the caller may change.
func (inv *Inventory) HostVars(host string) map[string]any {
	vars := inv.effectiveVars(host, inv.depths(), map[string]map[string]bool{host: inv.groupsOf(host)})
	if vars != nil {
		vars["inventory_hostname"] = host
	}
	return vars
}

// effectiveVars is HostVars without the magic variables.
func (inv *Inventory) effectiveVars(host string, depth map[string]int, member map[string]map[string]bool) map[string]any {
	h, ok := inv.Hosts[host]
	if !ok {
		return nil
	}
	vars := map[string]any{}
	if all, ok := inv.Groups["all"]; ok {
		mergeVars(vars, all.Vars)
	}
	var groups []*Group
	for name := range member[host] {
		if name != "all" {
			groups = append(groups, inv.Groups[name])
		}
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if depth[a.Name] != depth[b.Name] {
			return depth[a.Name] < depth[b.Name]
		}
		if a.Priority() != b.Priority() {
			return a.Priority() < b.Priority()
		}
		return a.Name < b.Name
	})
	for _, g := range groups {
		mergeVars(vars, g.Vars)
	}
	mergeVars(vars, h.Vars)
	return vars
}

// mergeVars copies src over dst. Ansible's default hash_behaviour is
// "replace", so a dict in a later group replaces the earlier one whole.
func mergeVars(dst, src map[string]any) {
	for k, v := range src {
		dst[k] = deepCopy(v)
	}
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = deepCopy(x)
		}
		return l
	}
	return v
}

// GroupHosts returns every host in group and its descendants, each once, in
// the order Ansible enumerates them: the group's own hosts, then those of its
// children, then grandchildren, each level in file order.
func (inv *Inventory) GroupHosts(group string) ([]string, error) {
	if _, ok := inv.Groups[group]; !ok {
		return nil, inv.unknownGroup(group)
	}
	var hosts []string
	seen := map[string]bool{}
	for _, g := range inv.descendants(group) {
		for _, h := range inv.Groups[g].Hosts {
			if !seen[h] {
				seen[h] = true
				hosts = append(hosts, h)
			}
		}
	}
	return hosts, nil
}

func (inv *Inventory) unknownGroup(group string) error {
	names := inv.orderedGroups()
	return fmt.Errorf("%w %q (the inventory has: %s)", ErrUnknownGroup, group, strings.Join(names, ", "))
}

// descendants returns group and every group below it, breadth first.
func (inv *Inventory) descendants(group string) []string {
	order := []string{group}
	seen := map[string]bool{group: true}
	for i := 0; i < len(order); i++ {
		g, ok := inv.Groups[order[i]]
		if !ok {
			continue
		}
		for _, c := range g.Children {
			if !seen[c] {
				seen[c] = true
				order = append(order, c)
			}
		}
	}
	return order
}

// parents maps each group to the groups that list it as a child.
func (inv *Inventory) parents() map[string][]string {
	p := map[string][]string{}
	for _, name := range inv.orderedGroups() {
		for _, c := range inv.Groups[name].Children {
			p[c] = append(p[c], name)
		}
	}
	return p
}

// ancestors returns every group above group.
func (inv *Inventory) ancestors(group string) map[string]bool {
	parents := inv.parents()
	seen := map[string]bool{}
	stack := []string{group}
	for len(stack) > 0 {
		g := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range parents[g] {
			if !seen[p] {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	return seen
}

// groupsOf returns every group host is in, directly or through children.
func (inv *Inventory) groupsOf(host string) map[string]bool {
	groups := map[string]bool{}
	var stack []string
	for name, g := range inv.Groups {
		if containsString(g.Hosts, host) {
			groups[name] = true
			stack = append(stack, name)
		}
	}
	parents := inv.parents()
	for len(stack) > 0 {
		g := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range parents[g] {
			if !groups[p] {
				groups[p] = true
				stack = append(stack, p)
			}
		}
	}
	return groups
}

// memberships maps each host to every group it is in, directly or through
// child groups.
func (inv *Inventory) memberships() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, name := range inv.orderedGroups() {
		for _, h := range inv.Groups[name].Hosts {
			if out[h] == nil {
				out[h] = map[string]bool{}
			}
			out[h][name] = true
		}
	}
	parents := inv.parents()
	for _, groups := range out {
		stack := make([]string, 0, len(groups))
		for g := range groups {
			stack = append(stack, g)
		}
		for len(stack) > 0 {
			g := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, p := range parents[g] {
				if !groups[p] {
					groups[p] = true
					stack = append(stack, p)
				}
			}
		}
	}
	return out
}

// depths gives each group the length of the longest path from "all" to it,
// which is the depth Ansible sorts group variables by.
func (inv *Inventory) depths() map[string]int {
	parents := inv.parents()
	depth := map[string]int{}
	visiting := map[string]bool{}
	var walk func(string) int
	walk = func(g string) int {
		if d, ok := depth[g]; ok {
			return d
		}
		if visiting[g] { // a loop; parsing refuses these, so this is hand-built
			return 0
		}
		visiting[g] = true
		d := 0
		for _, p := range parents[g] {
			if pd := walk(p) + 1; pd > d {
				d = pd
			}
		}
		if d == 0 && g != "all" {
			d = 1 // Ansible hangs parentless groups under "all"
		}
		depth[g] = d
		return d
	}
	for name := range inv.Groups {
		walk(name)
	}
	return depth
}

// orderedGroups returns group names in the order they were first seen; names
// added by hand after parsing follow, sorted.
func (inv *Inventory) orderedGroups() []string {
	return ordered(inv.groupOrder, func(yield func(string)) {
		for name := range inv.Groups {
			yield(name)
		}
	}, func(name string) bool { _, ok := inv.Groups[name]; return ok })
}

// orderedHosts is orderedGroups for hosts.
func (inv *Inventory) orderedHosts() []string {
	return ordered(inv.hostOrder, func(yield func(string)) {
		for name := range inv.Hosts {
			yield(name)
		}
	}, func(name string) bool { _, ok := inv.Hosts[name]; return ok })
}

func ordered(order []string, each func(func(string)), exists func(string) bool) []string {
	out := make([]string, 0, len(order))
	seen := map[string]bool{}
	for _, name := range order {
		if exists(name) && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	var extra []string
	each(func(name string) {
		if !seen[name] {
			extra = append(extra, name)
		}
	})
	sort.Strings(extra)
	return append(out, extra...)
}
