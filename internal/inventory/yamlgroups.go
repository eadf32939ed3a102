package inventory

import (
	"fmt"
	"math/big"
)

// yamlWalker turns the constructed YAML tree into groups, hosts and vars,
// following the checks (and the leniency) of Ansible's yaml plugin.
type yamlWalker struct {
	inv *Inventory
	b   *yamlBuilder
}

func (w *yamlWalker) warn(line int, format string, args ...any) {
	w.b.warnings = append(w.b.warnings, fmt.Sprintf("%s:%d: ", w.inv.Source, line)+fmt.Sprintf(format, args...))
}

func (w *yamlWalker) top(root *ynode) error {
	if root == nil || !pyTruthy(root.value) {
		return w.b.errorAt(0, "parsed empty YAML file; an inventory needs at least 'all:'")
	}
	if !root.isMap {
		return w.b.errorAt(root.line, "YAML inventory has invalid structure, it should be a dictionary of groups, got: %s", pyTypeName(root.value))
	}
	if v, ok := root.value.(map[string]any)["plugin"]; ok && pyTruthy(v) {
		return w.b.errorAt(root.line, "plugin configuration YAML file, not YAML inventory; this package reads static inventories only")
	}
	for _, e := range root.entries {
		if _, err := w.group(e.key, e.node, e.line); err != nil {
			return err
		}
	}
	return nil
}

// group reads one group definition and returns its name. A definition that
// is neither a mapping nor empty is skipped with a warning, as Ansible does.
func (w *yamlWalker) group(key any, def *ynode, line int) (any, error) {
	if def.value != nil && !def.isMap {
		w.warn(line, "skipping %v as this is not a valid group definition", key)
		return key, nil
	}
	name, ok := key.(string)
	if !ok || name == "" {
		if !pyTruthy(key) {
			return nil, w.b.errorAt(line, "invalid empty group name %v; group names must be non-empty strings", key)
		}
		return nil, w.b.errorAt(line, "invalid group name %v: expected a string but got %s; quote it", key, pyTypeName(key))
	}
	w.inv.addGroup(name)
	if def.value == nil {
		return name, nil
	}
	sections := map[string]*ynode{}
	for _, e := range def.entries {
		k, _ := e.key.(string)
		if k != "vars" && k != "children" && k != "hosts" {
			continue
		}
		sec := e.node
		if s, ok := sec.value.(string); ok { // "hosts: web1" means {web1: null}
			sec = &ynode{line: sec.line, isMap: true, value: map[string]any{s: nil},
				entries: []yentry{{key: s, line: sec.line, node: &ynode{line: sec.line}}}}
		}
		if sec.value != nil && !sec.isMap {
			return nil, w.b.errorAt(e.line, "invalid %q entry for %q group: requires a dictionary, found %s instead", k, name, pyTypeName(sec.value))
		}
		sections[k] = sec
	}
	for _, e := range def.entries {
		k, _ := e.key.(string)
		sec, known := sections[k]
		if !known {
			sec = e.node
		}
		if sec.value != nil && !sec.isMap {
			w.warn(e.line, "skipping key %v in group %s as it is not a mapping", e.key, name)
			continue
		}
		if sec.value == nil {
			continue
		}
		var err error
		switch {
		case !known:
			w.warn(e.line, "skipping unexpected key %v in group %s, only \"vars\", \"children\" and \"hosts\" are valid", e.key, name)
		case k == "vars":
			err = w.vars(name, sec)
		case k == "children":
			err = w.children(name, sec)
		case k == "hosts":
			err = w.hosts(name, sec)
		}
		if err != nil {
			return nil, err
		}
	}
	return name, nil
}

func (w *yamlWalker) vars(group string, sec *ynode) error {
	for _, e := range sec.entries {
		_, text, _ := dictKey(e.key)
		if err := w.inv.setGroupVar(group, text, deepCopy(e.node.value)); err != nil {
			return w.b.errorAt(e.line, "%v", err)
		}
	}
	return nil
}

func (w *yamlWalker) children(group string, sec *ynode) error {
	for _, e := range sec.entries {
		child, err := w.group(e.key, e.node, e.line)
		if err != nil {
			return err
		}
		name, ok := child.(string)
		if !ok {
			return w.b.errorAt(e.line, "%v is not a known host nor group", child)
		}
		if err := w.inv.addChild(group, name); err != nil {
			return w.b.errorAt(e.line, "%v", err)
		}
	}
	return nil
}

func (w *yamlWalker) hosts(group string, sec *ynode) error {
	for _, e := range sec.entries {
		entry, ok := e.key.(string)
		if !ok {
			return w.b.errorAt(e.line, "host pattern %v must be a string; enclose integers/floats in quotation marks", e.key)
		}
		names, port, err := expandHostPattern(entry)
		if err != nil {
			return w.b.errorAt(e.line, "%v", err)
		}
		vars := e.node
		if !pyTruthy(vars.value) {
			vars = &ynode{isMap: true}
		}
		if !vars.isMap {
			return w.b.errorAt(e.line, "host %s: expected a dictionary of variables, got %s", entry, pyTypeName(vars.value))
		}
		for _, h := range names {
			if err := w.inv.addHost(h, group, port); err != nil {
				return w.b.errorAt(e.line, "%v", err)
			}
			for _, v := range vars.entries {
				_, text, _ := dictKey(v.key)
				w.inv.Hosts[h].Vars[text] = deepCopy(v.node.value)
			}
		}
	}
	return nil
}

// pyTruthy is Python's truth test for loaded values.
func pyTruthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case int:
		return v != 0
	case *big.Int:
		return v.Sign() != 0
	case float64:
		return v != 0
	case string:
		return v != ""
	case Unsafe:
		return v != ""
	case Vault:
		return v != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}
