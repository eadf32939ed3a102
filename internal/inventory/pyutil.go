package inventory

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The INI plugin leans on Python string semantics (str.strip, splitlines,
// int(), the \w and \s regex classes); these helpers reproduce the parts that
// change results.

// pyIsSpace is Python's str.isspace for one character.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip().
func pyStrip(s string) string {
	return strings.TrimFunc(s, pyIsSpace)
}

// pyIsWord is the \w class of Python's re module for str patterns.
func pyIsWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// pySplitLines is Python's str.splitlines(): it splits on \n, \r, \r\n and
// the other Unicode line boundaries, and drops the final empty piece.
func pySplitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch r {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			lines = append(lines, s[start:i])
			i += size
			if r == '\r' && i < len(s) && s[i] == '\n' {
				i++
			}
			start = i
			continue
		}
		i += size
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

// pyParseInt is Python's int(s) for a str: surrounding whitespace, a sign,
// decimal digits with single underscores between them.
func pyParseInt(s string) (*big.Int, error) {
	t := pyStrip(s)
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if t == "" || t[0] == '_' || t[len(t)-1] == '_' || strings.Contains(t, "__") {
		return nil, fmt.Errorf("invalid literal for int() with base 10: %q", s)
	}
	digits := strings.ReplaceAll(t, "_", "")
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("invalid literal for int() with base 10: %q", s)
		}
	}
	n, _ := new(big.Int).SetString(digits, 10)
	if neg {
		n.Neg(n)
	}
	return n, nil
}

// intValue turns a big integer into the Go value stored in vars: an int when
// it fits, else the *big.Int itself (which still marshals as a JSON number).
func intValue(n *big.Int) any {
	if n.IsInt64() && n.Int64() >= math.MinInt && n.Int64() <= math.MaxInt {
		return int(n.Int64())
	}
	return n
}

func isZeroInt(v any) bool {
	switch v := v.(type) {
	case int:
		return v == 0
	case *big.Int:
		return v.Sign() == 0
	}
	return false
}

// pyIntOf is Python's int(value) for values an inventory can hold.
func pyIntOf(v any) (int, error) {
	switch v := v.(type) {
	case int:
		return v, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > math.MaxInt32 {
			return 0, fmt.Errorf("%v is out of range", v)
		}
		return int(v), nil
	case string:
		n, err := pyParseInt(v)
		if err != nil {
			return 0, err
		}
		if !n.IsInt64() || n.Int64() > math.MaxInt32 || n.Int64() < math.MinInt32 {
			return 0, fmt.Errorf("%s is out of range", v)
		}
		return int(n.Int64()), nil
	}
	return 0, errors.New("got " + pyTypeName(v))
}

// pyTypeName names the Python type Ansible would report for a value.
func pyTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case string, Unsafe:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// pyFloatRepr is Python's repr() of a float, which json.dumps uses for float
// dictionary keys.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}
