package inventory

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Ansible loads YAML with PyYAML, which follows YAML 1.1: yes/no/on/off are
// booleans, 0777 is octal, 1:20 is base 60, 1e3 (no dot) is a string and
// dates become date objects that ansible-inventory prints in ISO form. The
// resolver below reproduces PyYAML's; yaml.v3 only supplies the node tree.
var (
	yamlBool      = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlFloat     = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yamlInt       = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlNull      = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	yamlTime      = regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
	yamlTimeParts = regexp.MustCompile(`^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?)?$`)
	jsonNumber    = regexp.MustCompile(`^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)
)

// scalarValue constructs a scalar node's value as Ansible's loader would.
// isKey matters only for "=", which PyYAML accepts as a key but not a value.
func scalarValue(n *yaml.Node, isKey, jsonMode bool) (any, error) {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 && n.Style&yaml.TaggedStyle == 0 {
		return n.Value, nil
	}
	v := n.Value
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.Tag {
		case "!!str", "!!binary":
			return v, nil
		case "!unsafe":
			return Unsafe(v), nil
		case "!vault", "!vault-encrypted":
			return Vault(v), nil
		case "!!int":
			return yamlIntValue(v)
		case "!!float":
			return yamlFloatValue(v)
		case "!!bool":
			if b, ok := yamlBoolValue(v); ok {
				return b, nil
			}
			return nil, fmt.Errorf("%q is not a boolean", v)
		case "!!null":
			return nil, nil
		case "!!timestamp":
			return yamlTimestamp(v)
		}
		return nil, fmt.Errorf("could not determine a constructor for the tag %q", n.Tag)
	}
	if jsonMode {
		if m := jsonNumber.FindStringSubmatch(v); m != nil {
			if m[1] == "" && m[2] == "" {
				n, _ := new(big.Int).SetString(v, 10)
				return intValue(n), nil
			}
			f, _ := strconv.ParseFloat(v, 64)
			return f, nil
		}
	}
	switch {
	case yamlBool.MatchString(v):
		b, _ := yamlBoolValue(v)
		return b, nil
	case yamlFloat.MatchString(v):
		return yamlFloatValue(v)
	case yamlInt.MatchString(v):
		return yamlIntValue(v)
	case yamlNull.MatchString(v):
		return nil, nil
	case yamlTime.MatchString(v):
		return yamlTimestamp(v)
	case v == "=" && !isKey:
		return nil, fmt.Errorf("could not determine a constructor for the tag 'tag:yaml.org,2002:value'; quote the '='")
	}
	return v, nil
}

func yamlBoolValue(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "yes", "true", "on":
		return true, true
	case "no", "false", "off":
		return false, true
	}
	return false, false
}

// yamlIntValue is PyYAML's construct_yaml_int.
func yamlIntValue(s string) (any, error) {
	v := strings.ReplaceAll(s, "_", "")
	sign := 1
	if v != "" && (v[0] == '-' || v[0] == '+') {
		if v[0] == '-' {
			sign = -1
		}
		v = v[1:]
	}
	n := new(big.Int)
	ok := true
	switch {
	case v == "0":
	case strings.HasPrefix(v, "0b"):
		_, ok = n.SetString(v[2:], 2)
	case strings.HasPrefix(v, "0x"):
		_, ok = n.SetString(v[2:], 16)
	case v != "" && v[0] == '0':
		_, ok = n.SetString(v, 8)
	case strings.Contains(v, ":"):
		for _, part := range strings.Split(v, ":") {
			d, good := new(big.Int).SetString(part, 10)
			if !good {
				ok = false
				break
			}
			n.Mul(n, big.NewInt(60)).Add(n, d)
		}
	default:
		_, ok = n.SetString(v, 10)
	}
	if !ok || strings.ContainsAny(v, "+-") {
		return nil, fmt.Errorf("%q is not an integer", s)
	}
	if sign < 0 {
		n.Neg(n)
	}
	return intValue(n), nil
}

// yamlFloatValue is PyYAML's construct_yaml_float.
func yamlFloatValue(s string) (any, error) {
	v := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if v != "" && (v[0] == '-' || v[0] == '+') {
		if v[0] == '-' {
			sign = -1
		}
		v = v[1:]
	}
	switch {
	case v == ".inf":
		return sign * math.Inf(1), nil
	case v == ".nan":
		return math.NaN(), nil
	case strings.Contains(v, ":"):
		f := 0.0
		for _, part := range strings.Split(v, ":") {
			d, err := strconv.ParseFloat(part, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", s)
			}
			f = f*60 + d
		}
		return sign * f, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if (err != nil && !errors.Is(err, strconv.ErrRange)) || strings.ContainsAny(v, "xp") {
		return nil, fmt.Errorf("%q is not a number", s)
	}
	return sign * f, nil
}

// yamlTimestamp builds the ISO text Python's date/datetime isoformat() gives,
// which is what ansible-inventory prints for YAML dates.
func yamlTimestamp(s string) (any, error) {
	m := yamlTimeParts.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("%q is not a timestamp", s)
	}
	num := func(i int) int { n, _ := strconv.Atoi(m[i]); return n }
	year, month, day := num(1), num(2), num(3)
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return nil, fmt.Errorf("%q is not a valid date", s)
	}
	date := fmt.Sprintf("%04d-%02d-%02d", year, month, day)
	if m[4] == "" {
		return date, nil
	}
	hour, minute, second := num(4), num(5), num(6)
	if hour > 23 || minute > 59 || second > 59 {
		return nil, fmt.Errorf("%q is not a valid time", s)
	}
	out := fmt.Sprintf("%sT%02d:%02d:%02d", date, hour, minute, second)
	if frac := m[7]; frac != "" {
		frac = (frac + "000000")[:6]
		if frac != "000000" {
			out += "." + frac
		}
	}
	switch {
	case m[9] != "":
		h, mi := num(10), 0
		if m[11] != "" {
			mi = num(11)
		}
		if h*60+mi >= 24*60 {
			return nil, fmt.Errorf("%q has a time zone offset of a day or more", s)
		}
		sign := m[9]
		if h == 0 && mi == 0 {
			sign = "+"
		}
		out += fmt.Sprintf("%s%02d:%02d", sign, h, mi)
	case m[8] == "Z":
		out += "+00:00"
	}
	return out, nil
}

func daysIn(year, month int) int {
	switch month {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31
}
