package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// ParseYAML parses a YAML (or JSON) inventory as Ansible 2.14's yaml plugin
// does: every top-level key is a group, and a group holds "hosts", "vars" and
// "children" mappings. source names the file in errors and Inventory.Source.
func ParseYAML(source string, data []byte) (*Inventory, error) {
	b := &yamlBuilder{source: source, jsonMode: json.Valid(data), budget: maxYAMLNodes}
	root, err := b.document(data)
	if err != nil {
		return nil, err
	}
	w := &yamlWalker{inv: newInventory(source), b: b}
	if err := w.top(root); err != nil {
		return nil, err
	}
	if err := w.inv.finish(); err != nil {
		return nil, &ParseError{File: source, Msg: err.Error()}
	}
	w.inv.warnings = b.warnings
	return w.inv, nil
}

const (
	maxYAMLDepth = 1000
	maxYAMLNodes = 1 << 20 // bounds alias bombs
)

// ynode is a constructed YAML value plus what the group walk needs: line
// numbers and mapping entries in file order after merges and duplicates.
type ynode struct {
	line    int
	value   any // string, int, ..., []any or map[string]any
	isMap   bool
	isSeq   bool
	entries []yentry
}

type yentry struct {
	key  any
	line int
	node *ynode
}

type yamlBuilder struct {
	source   string
	jsonMode bool // the file is JSON, which Ansible reads with json.loads
	budget   int
	warnings []string
}

func (b *yamlBuilder) errorAt(line int, format string, args ...any) error {
	return &ParseError{File: b.source, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// yamlErrorLine takes yaml.v3's syntax errors apart; the library returns
// them as plain text ("yaml: line 3: did not find expected key"), with no
// type to ask for the line.
var yamlErrorLine = regexp.MustCompile(`(?s)^yaml: (?:line (\d+): )?(.*)$`)

// document decodes exactly one YAML document; nil means it is empty.
func (b *yamlBuilder) document(data []byte) (*ynode, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, b.syntaxError(err, data)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, b.syntaxError(err, data)
		}
		return nil, b.errorAt(extra.Line, "expected a single document in the stream; an inventory is one YAML document, remove the extra '---'")
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return b.build(doc.Content[0], 0, false)
}

// syntaxError reports a yaml.v3 error. yaml.v3 names the line where the
// enclosing block starts (or no line at all), so the line reported is the
// first one at which the file, cut there, fails the same way.
func (b *yamlBuilder) syntaxError(err error, data []byte) error {
	line, msg := splitYAMLError(err)
	if k := firstFailingLine(data, msg); k > 0 {
		line = k
	}
	return b.errorAt(line, "YAML syntax error: %s", msg)
}

func splitYAMLError(err error) (int, string) {
	m := yamlErrorLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, err.Error()
	}
	line, _ := strconv.Atoi(m[1]) // 0 when yaml.v3 named no line
	return line, m[2]
}

// maxBisectLines keeps the quadratic search for the failing line cheap.
const maxBisectLines = 5000

func firstFailingLine(data []byte, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxBisectLines {
		return 0
	}
	for k := 1; k <= len(lines); k++ {
		dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:k], nil)))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if err == nil {
				continue
			}
			if _, m := splitYAMLError(err); m == msg {
				return k
			}
			break
		}
	}
	return 0
}

// build constructs a node the way PyYAML with Ansible's constructors would.
func (b *yamlBuilder) build(n *yaml.Node, depth int, isKey bool) (*ynode, error) {
	if b.budget--; b.budget < 0 {
		return nil, b.errorAt(n.Line, "too many YAML nodes after expanding aliases")
	}
	if depth > maxYAMLDepth {
		return nil, b.errorAt(n.Line, "YAML nested too deeply (or an alias refers to itself)")
	}
	line := n.Line
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := scalarValue(n, isKey, b.jsonMode)
		if err != nil {
			return nil, b.errorAt(line, "%v", err)
		}
		return &ynode{line: line, value: v}, nil
	case yaml.SequenceNode:
		if err := b.collectionTag(n, "!!seq"); err != nil {
			return nil, err
		}
		items := []any{}
		for _, c := range n.Content {
			item, err := b.build(c, depth+1, false)
			if err != nil {
				return nil, err
			}
			items = append(items, item.value)
		}
		return &ynode{line: line, value: b.unsafe(n, items), isSeq: true}, nil
	case yaml.MappingNode:
		if err := b.collectionTag(n, "!!map"); err != nil {
			return nil, err
		}
		return b.mapping(n, line, depth)
	}
	return nil, b.errorAt(line, "unexpected YAML node")
}

func (b *yamlBuilder) collectionTag(n *yaml.Node, plain string) error {
	if n.Style&yaml.TaggedStyle == 0 || n.Tag == plain || n.Tag == "!unsafe" {
		return nil
	}
	return b.errorAt(n.Line, "could not determine a constructor for the tag %q", n.Tag)
}

// unsafe applies an !unsafe tag on a collection to every string inside it.
func (b *yamlBuilder) unsafe(n *yaml.Node, v any) any {
	if n.Tag != "!unsafe" {
		return v
	}
	var wrap func(any) any
	wrap = func(v any) any {
		switch v := v.(type) {
		case string:
			return Unsafe(v)
		case []any:
			for i := range v {
				v[i] = wrap(v[i])
			}
		case map[string]any:
			for k := range v {
				v[k] = wrap(v[k])
			}
		}
		return v
	}
	return wrap(v)
}

// mapping builds a mapping: merge keys first (earlier merged maps winning),
// then its own keys; a repeated key keeps its first position and last value.
func (b *yamlBuilder) mapping(n *yaml.Node, line, depth int) (*ynode, error) {
	pairs, err := b.flatten(n, depth)
	if err != nil {
		return nil, err
	}
	out := &ynode{line: line, isMap: true}
	index := map[string]int{}
	for _, kv := range pairs {
		k, err := b.build(kv[0], depth+1, true)
		if err != nil {
			return nil, err
		}
		if k.isMap || k.isSeq {
			return nil, b.errorAt(k.line, "found unhashable key; mapping keys must be scalars")
		}
		id, _, err := dictKey(k.value)
		if err != nil {
			return nil, b.errorAt(k.line, "found unacceptable key: %v", err)
		}
		v, err := b.build(kv[1], depth+1, false)
		if err != nil {
			return nil, err
		}
		if i, ok := index[id]; ok {
			b.warnings = append(b.warnings, fmt.Sprintf("%s:%d: duplicate key %v; using the last value only", b.source, k.line, k.value))
			out.entries[i].node = v
			continue
		}
		index[id] = len(out.entries)
		out.entries = append(out.entries, yentry{key: k.value, line: k.line, node: v})
	}
	m := newOrderedMap()
	for _, e := range out.entries {
		m.set(e.key, e.node.value)
	}
	out.value = b.unsafe(n, m.m)
	return out, nil
}

type yamlPair = [2]*yaml.Node

func (b *yamlBuilder) flatten(n *yaml.Node, depth int) ([]yamlPair, error) {
	if depth > maxYAMLDepth {
		return nil, b.errorAt(n.Line, "YAML merge keys nested too deeply")
	}
	var merged, own []yamlPair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!merge" {
			own = append(own, yamlPair{k, v})
			continue
		}
		for v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		switch v.Kind {
		case yaml.MappingNode:
			sub, err := b.flatten(v, depth+1)
			if err != nil {
				return nil, err
			}
			merged = append(merged, sub...)
		case yaml.SequenceNode:
			var subs [][]yamlPair
			for _, item := range v.Content {
				for item.Kind == yaml.AliasNode {
					item = item.Alias
				}
				if item.Kind != yaml.MappingNode {
					return nil, b.errorAt(item.Line, "a merge key '<<' takes a mapping or a list of mappings")
				}
				sub, err := b.flatten(item, depth+1)
				if err != nil {
					return nil, err
				}
				subs = append(subs, sub)
			}
			for i := len(subs) - 1; i >= 0; i-- {
				merged = append(merged, subs[i]...)
			}
		default:
			return nil, b.errorAt(v.Line, "a merge key '<<' takes a mapping or a list of mappings")
		}
	}
	return append(merged, own...), nil
}
