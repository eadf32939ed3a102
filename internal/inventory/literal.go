package inventory

import (
	"errors"
	"math/big"
	"strings"
	"unicode"
	"unicode/utf8"
)

// iniValue types an INI value the way the ini plugin does: Python's
// ast.literal_eval, keeping the text when that fails with ValueError or
// SyntaxError. An error is returned only where Python raises something else
// (an unhashable dict key or set member), which fails the whole inventory.
//
// Known gaps, each of which would crash or confuse ansible-inventory anyway:
// complex numbers, Ellipsis and \N{name} escapes stay text, and sets become
// lists.
func iniValue(s string) (any, error) {
	p := &litParser{src: strings.TrimLeft(s, " \t")}
	v, ok, err := p.top()
	if err != nil {
		return nil, err
	}
	if !ok {
		return s, nil
	}
	return plain(v), nil
}

// maxLiteralDepth is CPython's limit on nested brackets (MAXLEVEL).
const maxLiteralDepth = 200

// maxIntDigits is CPython 3.11's limit on decimal digits in an int literal.
const maxIntDigits = 4300

type litParser struct {
	src   string
	pos   int
	depth int
	err   error // a non-SyntaxError failure, reported as a parse error
}

var errNotLiteral = errors.New("not a literal")

// top parses the whole input: one literal, or a bare tuple "1, 2".
func (p *litParser) top() (v any, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			if r != errNotLiteral {
				panic(r)
			}
			v, ok, err = nil, false, p.err
		}
	}()
	first := p.value()
	p.space()
	if p.peek() == ',' {
		items := []any{first}
		for p.peek() == ',' {
			p.pos++
			p.space()
			if p.pos >= len(p.src) {
				break
			}
			items = append(items, p.value())
			p.space()
		}
		first = pyTuple(items)
	}
	if p.pos < len(p.src) {
		p.fail()
	}
	return first, true, nil
}

func (p *litParser) fail() { panic(errNotLiteral) }

func (p *litParser) failWith(err error) {
	p.err = err
	panic(errNotLiteral)
}

func (p *litParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

// space skips blanks, backslash continuations and a trailing comment.
func (p *litParser) space() {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\f':
			p.pos++
		case c == '\\' && strings.HasPrefix(p.src[p.pos:], "\\\n"):
			p.pos += 2
		case c == '#':
			p.pos = len(p.src)
		default:
			return
		}
	}
}

// value parses one element: an optionally signed number or an atom.
func (p *litParser) value() any {
	p.space()
	switch c := p.peek(); c {
	case '+', '-':
		p.pos++
		switch n := p.signedOperand().(type) {
		case int:
			if c == '-' {
				return intValue(new(big.Int).Neg(big.NewInt(int64(n))))
			}
			return n
		case *big.Int:
			if c == '-' {
				return intValue(new(big.Int).Neg(n))
			}
			return n
		case float64:
			if c == '-' {
				return -n
			}
			return n
		}
		p.fail()
	}
	return p.atom()
}

// signedOperand parses what may follow a sign: a number, possibly in
// parentheses, since -(5) is still a signed constant in Python's AST but
// --5 and -True are not.
func (p *litParser) signedOperand() any {
	p.space()
	opens := 0
	for p.peek() == '(' {
		p.open()
		opens++
		p.space()
	}
	if c := p.peek(); c != '.' && (c < '0' || c > '9') {
		p.fail()
	}
	n := p.number()
	for ; opens > 0; opens-- {
		p.space()
		if p.peek() != ')' {
			p.fail()
		}
		p.pos++
		p.depth--
	}
	return n
}

func (p *litParser) atom() any {
	p.space()
	c := p.peek()
	switch {
	case c == '(':
		return p.paren()
	case c == '[':
		p.open()
		items := p.items(']')
		p.depth--
		return items
	case c == '{':
		return p.brace()
	case c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	case c == '\'' || c == '"':
		return p.strings()
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	if r == '_' || unicode.IsLetter(r) {
		start := p.pos
		for p.pos < len(p.src) {
			r, size := utf8.DecodeRuneInString(p.src[p.pos:])
			if !pyIsWord(r) {
				break
			}
			p.pos += size
		}
		name := p.src[start:p.pos]
		if q := p.peek(); (q == '\'' || q == '"') && isStringPrefix(name) {
			p.pos = start
			return p.strings()
		}
		switch name {
		case "True":
			return true
		case "False":
			return false
		case "None":
			return nil
		case "set":
			p.space()
			if p.peek() == '(' {
				p.pos++
				p.space()
				if p.peek() == ')' {
					p.pos++
					return pySet{}
				}
			}
		}
	}
	p.fail()
	return nil
}

func (p *litParser) open() {
	p.depth++
	if p.depth > maxLiteralDepth {
		p.fail()
	}
	p.pos++
}

// paren parses "()", "(x)" or a tuple.
func (p *litParser) paren() any {
	p.open()
	defer func() { p.depth-- }()
	p.space()
	if p.peek() == ')' {
		p.pos++
		return pyTuple{}
	}
	v := p.value()
	p.space()
	switch p.peek() {
	case ')':
		p.pos++
		return v
	case ',':
		p.pos++
		rest := p.items(')')
		return pyTuple(append([]any{v}, rest...))
	}
	p.fail()
	return nil
}

// items parses comma-separated values up to the closing bracket, allowing a
// trailing comma.
func (p *litParser) items(closer byte) []any {
	items := []any{}
	for {
		p.space()
		if p.peek() == closer {
			p.pos++
			return items
		}
		items = append(items, p.value())
		p.space()
		switch p.peek() {
		case ',':
			p.pos++
		case closer:
		default:
			p.fail()
		}
	}
}

// brace parses a dict or a set.
func (p *litParser) brace() any {
	p.open()
	defer func() { p.depth-- }()
	p.space()
	if p.peek() == '}' {
		p.pos++
		return map[string]any{}
	}
	first := p.value()
	p.space()
	if p.peek() != ':' {
		rest := []any{first}
		if p.peek() == ',' {
			p.pos++
			rest = append(rest, p.items('}')...)
		} else if p.peek() == '}' {
			p.pos++
		} else {
			p.fail()
		}
		set := pySet{}
		seen := map[string]bool{}
		for _, x := range rest {
			id, _, err := dictKey(x)
			if err != nil {
				p.failWith(err)
			}
			if !seen[id] {
				seen[id] = true
				set = append(set, x)
			}
		}
		return set
	}
	m := newOrderedMap()
	key := first
	for {
		if p.peek() != ':' {
			p.fail()
		}
		p.pos++
		if err := m.set(key, p.value()); err != nil {
			p.failWith(err)
		}
		p.space()
		switch p.peek() {
		case '}':
			p.pos++
			return m.m
		case ',':
			p.pos++
			p.space()
			if p.peek() == '}' {
				p.pos++
				return m.m
			}
			key = p.value()
			p.space()
		default:
			p.fail()
		}
	}
}
