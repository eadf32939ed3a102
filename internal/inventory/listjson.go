package inventory

// ListJSON returns the structure `ansible-inventory -i FILE --list` prints:
// one entry per group that has hosts or children ("hosts" are direct hosts,
// never listed for "all"; "children" are direct child groups), and
// "_meta": {"hostvars": {...}} holding each host's merged variables (see
// HostVars, minus inventory_hostname) for hosts that have any. Group
// variables appear only through hostvars, as without --export. The result
// is a fresh copy; encoding/json marshals it to the same JSON.
func (inv *Inventory) ListJSON() map[string]any {
	out := map[string]any{}
	for _, name := range inv.orderedGroups() {
		g := inv.Groups[name]
		entry := map[string]any{}
		if name != "all" && len(g.Hosts) > 0 {
			entry["hosts"] = append([]string(nil), g.Hosts...)
		}
		if len(g.Children) > 0 {
			entry["children"] = append([]string(nil), g.Children...)
		}
		if len(entry) > 0 {
			out[name] = entry
		}
	}
	hostvars := map[string]any{}
	depth, member := inv.depths(), inv.memberships()
	for _, host := range inv.orderedHosts() {
		if vars := inv.effectiveVars(host, depth, member); len(vars) > 0 {
			hostvars[host] = vars
		}
	}
	out["_meta"] = map[string]any{"hostvars": hostvars}
	return out
}
