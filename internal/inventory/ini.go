package inventory

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ParseINI parses an INI inventory as Ansible 2.14's ini plugin does.
// source names the file in errors and in Inventory.Source.
//
// Values are typed like Python literals in both host lines and [group:vars]
// sections (ansible-inventory prints x=1 as the number 1 either way, whatever
// the Ansible docs say about :vars); in host lines shell-style quoting is
// removed first, so x="1" is a number too and x="'1'" is the string "1".
func ParseINI(source string, data []byte) (*Inventory, error) {
	p := &iniParser{inv: newInventory(source), pending: map[string]*pendingGroup{}}
	if err := p.parse(data); err != nil {
		return nil, err
	}
	if err := p.inv.finish(); err != nil {
		return nil, &ParseError{File: source, Msg: err.Error()}
	}
	return p.inv, nil
}

type iniParser struct {
	inv    *Inventory
	lineno int

	// Groups named in [x:children] or [x:vars] before any [x] or
	// [x:children] header; Ansible allows that as long as the header comes.
	pending      map[string]*pendingGroup
	pendingOrder []string
}

type pendingGroup struct {
	line    int
	state   string
	parents []string
}

func (p *iniParser) errorf(format string, args ...any) error {
	return &ParseError{File: p.inv.Source, Line: p.lineno, Msg: fmt.Sprintf(format, args...)}
}

func (p *iniParser) parse(data []byte) error {
	if !utf8.Valid(data) {
		for i, line := range strings.Split(string(data), "\n") {
			if !utf8.ValidString(line) {
				p.lineno = i + 1
				return p.errorf("line is not valid UTF-8; save the inventory as UTF-8")
			}
		}
	}
	group, state := "ungrouped", "hosts"
	for _, raw := range pySplitLines(string(data)) {
		p.lineno++
		line := pyStrip(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if name, kind, ok := parseSection(line); ok {
			if err := p.section(name, kind); err != nil {
				return err
			}
			group, state = name, kind
			if state == "" {
				state = "hosts"
			}
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' {
			return p.errorf("invalid section header %s: write [group], [group:vars] or [group:children], with no spaces inside the brackets", line)
		}
		var err error
		switch state {
		case "hosts":
			err = p.hostLine(line, group)
		case "vars":
			err = p.varLine(line, group)
		case "children":
			err = p.childLine(line, group)
		}
		if err != nil {
			return err
		}
	}
	for _, name := range p.pendingOrder {
		decl, ok := p.pending[name]
		if !ok {
			continue
		}
		p.lineno = decl.line
		if decl.state == "vars" {
			return p.errorf("section [%s:vars] is for group %s, which is never defined; add a [%s] section or remove the vars", name, name, name)
		}
		return p.errorf("section [%s:children] includes undefined group %s; add a [%s] section or remove it from the children",
			decl.parents[len(decl.parents)-1], name, name)
	}
	return nil
}

// parseSection matches "[name]", "[name:kind]" with an optional trailing
// comment. Names are anything but whitespace, ':' and ']'.
func parseSection(line string) (name, kind string, ok bool) {
	if line[0] != '[' {
		return "", "", false
	}
	rest := line[1:]
	i := strings.IndexFunc(rest, func(r rune) bool { return r == ':' || r == ']' || pyIsSpace(r) })
	if i <= 0 || (rest[i] != ':' && rest[i] != ']') {
		return "", "", false
	}
	name, rest = rest[:i], rest[i:]
	if rest[0] == ':' {
		j := strings.IndexFunc(rest[1:], func(r rune) bool { return !pyIsWord(r) })
		if j <= 0 {
			return "", "", false
		}
		kind, rest = rest[1:1+j], rest[1+j:]
	}
	if rest == "" || rest[0] != ']' {
		return "", "", false
	}
	rest = strings.TrimLeftFunc(rest[1:], pyIsSpace)
	if rest != "" && rest[0] != '#' {
		return "", "", false
	}
	return name, kind, true
}

// section handles a header line, keeping Ansible's bookkeeping of groups
// declared later than they are used.
func (p *iniParser) section(name, kind string) error {
	if kind != "" && kind != "hosts" && kind != "vars" && kind != "children" {
		return p.errorf("section [%s:%s] has unknown type %s; use [%s], [%s:vars] or [%s:children]", name, kind, kind, name, name, name)
	}
	if _, ok := p.inv.Groups[name]; !ok {
		if _, waiting := p.pending[name]; kind == "vars" && !waiting {
			p.addPending(name, "vars", "")
		}
		p.inv.addGroup(name)
	}
	decl, waiting := p.pending[name]
	if !waiting || kind == "vars" {
		return nil
	}
	if decl.state == "children" {
		return p.resolvePending(name)
	}
	delete(p.pending, name)
	return nil
}

func (p *iniParser) addPending(name, state, parent string) {
	decl, ok := p.pending[name]
	if !ok {
		decl = &pendingGroup{line: p.lineno, state: state}
		p.pending[name] = decl
		p.pendingOrder = append(p.pendingOrder, name)
	}
	if parent != "" {
		decl.parents = append(decl.parents, parent)
	}
}

// resolvePending adds a now-declared group to the parents that named it.
func (p *iniParser) resolvePending(name string) error {
	decl := p.pending[name]
	delete(p.pending, name)
	for _, parent := range decl.parents {
		if err := p.inv.addChild(parent, name); err != nil {
			return p.errorf("%v", err)
		}
		if next, ok := p.pending[parent]; ok && next.state == "children" {
			if err := p.resolvePending(parent); err != nil {
				return err
			}
		}
	}
	return nil
}

// hostLine reads "name[:port] [key=value ...]"; the name may hold ranges.
func (p *iniParser) hostLine(line, group string) error {
	tokens, err := shlexSplit(line)
	if err != nil {
		return p.errorf("cannot parse host line %q: %v; check its quotes and backslashes", line, err)
	}
	if len(tokens) == 0 {
		return nil
	}
	hosts, port, err := iniHostEntry(tokens[0])
	if err != nil {
		if strings.HasPrefix(line, "[") {
			err = fmt.Errorf("%v (a section header needs a closing ']')", err)
		}
		return p.errorf("%v", err)
	}
	vars := newOrderedMap()
	for _, t := range tokens[1:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return p.errorf("expected key=value host variable assignment, got %q; quote values that contain spaces", t)
		}
		value, err := iniValue(v)
		if err != nil {
			return p.errorf("value of %s: %v", k, err)
		}
		vars.set(k, value)
	}
	for _, h := range hosts {
		if err := p.inv.addHost(h, group, port); err != nil {
			return p.errorf("%v", err)
		}
		for k, v := range vars.m {
			p.inv.Hosts[h].Vars[k] = deepCopy(v)
		}
	}
	return nil
}

// iniHostEntry expands the host part of a host line, adding the ini
// plugin's own checks to those shared with YAML.
func iniHostEntry(entry string) ([]string, any, error) {
	hosts, port, err := expandHostPattern(entry)
	if err != nil {
		return nil, nil, err
	}
	if strings.HasSuffix(pyStrip(entry), ":") && port == nil {
		return nil, nil, fmt.Errorf("invalid host %q: a trailing ':' must be followed by a port number", entry)
	}
	for _, h := range hosts {
		if pyStrip(h) == "---" {
			return nil, nil, fmt.Errorf("invalid host %q: '---' is normally a sign this is a YAML file; name it .yml", entry)
		}
	}
	return hosts, port, nil
}

// varLine reads "key=value" in a [group:vars] section. No shell quoting
// applies here, so a trailing "# text" is part of the value.
func (p *iniParser) varLine(line, group string) error {
	k, v, ok := strings.Cut(line, "=")
	if !ok {
		return p.errorf("expected key=value in [%s:vars], got %q", group, line)
	}
	k, v = pyStrip(k), pyStrip(v)
	value, err := iniValue(v)
	if err != nil {
		return p.errorf("value of %s: %v", k, err)
	}
	if err := p.inv.setGroupVar(group, k, value); err != nil {
		return p.errorf("%v", err)
	}
	return nil
}

// childLine reads one group name in a [group:children] section.
func (p *iniParser) childLine(line, group string) error {
	end := strings.IndexFunc(line, func(r rune) bool { return r == ':' || r == ']' || pyIsSpace(r) })
	child, rest := line, ""
	if end >= 0 {
		child, rest = line[:end], line[end:]
	}
	rest = strings.TrimLeftFunc(rest, pyIsSpace)
	if child == "" || (rest != "" && rest[0] != '#') {
		return p.errorf("expected a group name in [%s:children], got %q", group, line)
	}
	if _, ok := p.inv.Groups[child]; !ok {
		p.addPending(child, "children", group)
		return nil
	}
	if err := p.inv.addChild(group, child); err != nil {
		return p.errorf("%v", err)
	}
	return nil
}
