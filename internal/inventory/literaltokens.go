package inventory

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The token-level half of the literal parser: numbers and string literals
// as Python's tokenizer reads them.

// number parses a Python int or float literal. Complex numbers and anything
// the tokenizer rejects (leading zeros, stray underscores) are not literals.
func (p *litParser) number() any {
	s := p.src[p.pos:]
	if len(s) > 2 && s[0] == '0' {
		base := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[s[1]]
		if base != 0 {
			n := digitPart(s[2:], base, true)
			if n == 0 {
				p.fail()
			}
			v, _ := new(big.Int).SetString(strings.ReplaceAll(s[2:2+n], "_", ""), base)
			p.pos += 2 + n
			p.endOfNumber()
			return intValue(v)
		}
	}
	i := digitPart(s, 10, false)
	j, isFloat := i, false
	if j < len(s) && s[j] == '.' {
		k := digitPart(s[j+1:], 10, false)
		if i == 0 && k == 0 {
			p.fail()
		}
		j, isFloat = j+1+k, true
	}
	if i == 0 && !isFloat {
		p.fail()
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		m := digitPart(s[k:], 10, false)
		if m == 0 {
			p.fail()
		}
		j, isFloat = k+m, true
	}
	p.pos += j
	p.endOfNumber()
	text := strings.ReplaceAll(s[:j], "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			p.fail()
		}
		return f
	}
	if (text[0] == '0' && strings.Trim(text, "0") != "") || len(text) > maxIntDigits {
		p.fail()
	}
	v, _ := new(big.Int).SetString(text, 10)
	return intValue(v)
}

// digitPart measures digit (_? digit)* at the start of s. With leadingUnderscore,
// as after 0x, the first digit may be preceded by an underscore too.
func digitPart(s string, base int, leadingUnderscore bool) int {
	isDigit := func(c byte) bool {
		switch {
		case c >= '0' && c <= '9':
			return int(c-'0') < base
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			return base == 16
		}
		return false
	}
	n := 0
	for {
		i := n
		if i < len(s) && s[i] == '_' && (n > 0 || leadingUnderscore) {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return n
		}
		n = i + 1
	}
}

// endOfNumber rejects a number running straight into a name, another
// number or an imaginary suffix ("1abc", "1.5.3", "2j").
func (p *litParser) endOfNumber() {
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	if p.pos < len(p.src) && (r == '.' || pyIsWord(r)) {
		p.fail()
	}
}

func isStringPrefix(name string) bool {
	switch strings.ToLower(name) {
	case "", "r", "u", "b", "br", "rb":
		return true
	}
	return false // f-strings are not literals
}

// strings parses one or more adjacent string literals, which Python joins.
func (p *litParser) strings() any {
	var out []byte
	kind := 0 // 1 str, 2 bytes; mixing them is a SyntaxError
	for {
		p.space()
		start := p.pos
		for p.pos < len(p.src) && (p.src[p.pos]|0x20 >= 'a' && p.src[p.pos]|0x20 <= 'z') {
			p.pos++
		}
		prefix := strings.ToLower(p.src[start:p.pos])
		if q := p.peek(); (q != '\'' && q != '"') || !isStringPrefix(prefix) {
			p.pos = start
			if kind == 0 {
				p.fail()
			}
			break
		}
		k := 1
		if strings.Contains(prefix, "b") {
			k = 2
		}
		if kind != 0 && kind != k {
			p.fail()
		}
		kind = k
		body := p.quoted()
		if k == 2 {
			for i := 0; i < len(body); i++ {
				if body[i] >= 0x80 {
					p.fail()
				}
			}
		}
		if strings.Contains(prefix, "r") {
			out = append(out, body...)
		} else {
			out = p.unescape(out, body, k == 2)
		}
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// quoted returns the text between the quotes that start at p.pos.
func (p *litParser) quoted() string {
	q := p.src[p.pos]
	delim := string(q)
	if strings.HasPrefix(p.src[p.pos:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	p.pos += len(delim)
	start := p.pos
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == '\\':
			p.pos += 2
			continue
		case c == '\n' && len(delim) == 1:
			p.fail()
		case c == q && strings.HasPrefix(p.src[p.pos:], delim):
			body := p.src[start:p.pos]
			p.pos += len(delim)
			return body
		}
		p.pos++
	}
	p.fail()
	return ""
}

// unescape applies Python's backslash escapes for str or bytes literals.
func (p *litParser) unescape(out []byte, body string, isBytes bool) []byte {
	hex := func(s string, n int) int {
		if len(s) < n {
			p.fail()
		}
		v, err := strconv.ParseUint(s[:n], 16, 32)
		if err != nil || strings.ContainsAny(s[:n], "+-_") {
			p.fail()
		}
		return int(v)
	}
	put := func(v int) []byte {
		if isBytes {
			return append(out, byte(v))
		}
		return utf8.AppendRune(out, rune(v))
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		e := body[i]
		switch e {
		case '\n':
		case '\\', '\'', '"':
			out = append(out, e)
		case 'a', 'b', 'f', 'n', 'r', 't', 'v':
			out = append(out, map[byte]byte{'a': 7, 'b': 8, 'f': 12, 'n': 10, 'r': 13, 't': 9, 'v': 11}[e])
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := 0, 0
			for n < 3 && i+n < len(body) && body[i+n] >= '0' && body[i+n] <= '7' {
				v = v*8 + int(body[i+n]-'0')
				n++
			}
			i += n - 1
			if isBytes {
				v &= 0xff
			}
			out = put(v)
		case 'x':
			out = put(hex(body[i+1:], 2))
			i += 2
		case 'u', 'U', 'N':
			if isBytes {
				out = append(out, '\\', e)
				continue
			}
			if e == 'N' {
				p.fail() // named escapes need the Unicode name table
			}
			n := 4
			if e == 'U' {
				n = 8
			}
			v := hex(body[i+1:], n)
			if v > unicode.MaxRune {
				p.fail()
			}
			out = put(v)
			i += n
		default:
			out = append(out, '\\', e)
		}
	}
	return out
}
