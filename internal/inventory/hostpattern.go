package inventory

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxRangeHosts bounds what one host entry may expand to; Ansible has no
// limit, but a typo like web[1:99999999] should fail rather than eat memory.
const maxRangeHosts = 10000

// Address forms from Ansible's parse_address, for splitting "host:port" off a
// host entry. The IPv6 form keeps a quirk: only its first branch is anchored
// at the end, so "fe80::" followed by anything counts as an address.
var (
	bracketedHostPort = regexp.MustCompile(`^\[(.+)\]:([0-9]+)$`)
	hostPort          = regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$`)
	ipv4Address       = regexp.MustCompile(`(?i)^(?:` + ipv4Part + `\.){3}` + ipv4Part + `$`)
	ipv6Address       = regexp.MustCompile(`(?i)` + ipv6Pattern())
)

const (
	numericRange = `\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	hexRange     = `\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`
	ipv4Part     = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|` + numericRange + `)`
	ipv6Part     = `(?:[0-9a-f]{1,4}|` + hexRange + `)`
)

func ipv6Pattern() string {
	c := ipv6Part
	v4 := `(?:` + c + `\.){3}` + c
	branches := []string{
		`(?:` + c + `:){7}` + c,
		`(?:` + c + `:){1,6}:`,
		`(?:` + c + `:)(?::` + c + `){1,6}`,
		`(?:` + c + `:){2}(?::` + c + `){1,5}`,
		`(?:` + c + `:){3}(?::` + c + `){1,4}`,
		`(?:` + c + `:){4}(?::` + c + `){1,3}`,
		`(?:` + c + `:){5}(?::` + c + `){1,2}`,
		`(?:` + c + `:){6}(?::` + c + `)`,
		`:(?::` + c + `){1,6}`,
		c + `?::`,
		`(?:0:){6}` + v4,
		`::(?:ffff:)?` + v4,
		`(?:0:){5}ffff:` + v4 + `$`,
	}
	return `^(?:` + strings.Join(branches, "|") + `)`
}

// parseAddress splits an optional port off a host entry and checks that what
// is left is a host name, IPv4 or IPv6 address (ranges allowed). ok is false
// when Ansible would not recognise it, in which case the entry is used as is.
func parseAddress(s string) (host string, port any, ok bool) {
	// Ansible tries both forms in turn, so "[h:1]:2" ends with port 1.
	if m := bracketedHostPort.FindStringSubmatch(s); m != nil {
		s, port = m[1], portValue(m[2])
	}
	if m := hostPort.FindStringSubmatch(s); m != nil {
		s, port = m[1], portValue(m[2])
	}
	if s == "" || !(ipv4Address.MatchString(s) || ipv6Address.MatchString(s) || isHostName(s)) {
		return "", nil, false
	}
	return s, port, true
}

func portValue(digits string) any {
	n, _ := new(big.Int).SetString(digits, 10)
	return intValue(n)
}

// isHostName matches dot-separated labels of word characters, '-' and
// [x:y] ranges; a label may not start with '-' nor end with '-' or '_'.
func isHostName(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); {
			if label[i] == '[' {
				n := hostLabelRange(label[i:])
				if n == 0 {
					return false
				}
				i += n
				continue
			}
			r, size := utf8.DecodeRuneInString(label[i:])
			if !pyIsWord(r) && (r != '-' || i == 0) {
				return false
			}
			i += size
		}
		if last := label[len(label)-1]; last == '-' || last == '_' {
			return false
		}
	}
	return true
}

var labelRange = regexp.MustCompile(`^\[(?:[a-zA-Z]:[a-zA-Z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`)

func hostLabelRange(s string) int {
	return len(labelRange.FindString(s))
}

// expandHostPattern turns one host entry into host names and an optional
// port, as Ansible's _expand_hostpattern does.
func expandHostPattern(entry string) ([]string, any, error) {
	pattern, port, ok := parseAddress(entry)
	if !ok {
		pattern, port = entry, nil
	}
	if !strings.Contains(pattern, "[") {
		return []string{pattern}, port, nil
	}
	budget := maxRangeHosts
	hosts, err := expandRanges(pattern, &budget)
	if err != nil {
		return nil, nil, fmt.Errorf("bad host range in %q: %v; write ranges as name[start:end] or name[start:end:step]", entry, err)
	}
	return hosts, port, nil
}

// expandRanges expands the first [start:end(:step)] and recurses on the
// results, exactly like Ansible's expand_hostname_range, including its
// quirks: letters are looked up as substrings of a-zA-Z, a missing start
// means 0, and a negative step quietly yields nothing.
func expandRanges(line string, budget *int) ([]string, error) {
	open := strings.Index(line, "[")
	close := strings.Index(line, "]")
	parts := 3
	if close < 0 {
		parts = 2
	}
	if strings.Contains(line, "|") || parts != 3 {
		return nil, fmt.Errorf("unbalanced brackets")
	}
	first, second := open, close
	if close < open { // "]" before "[": Ansible just cuts at both
		first, second = close, open
	}
	head, nrange, tail := line[:first], line[first+1:second], line[second+1:]
	bounds := strings.Split(nrange, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, fmt.Errorf("host range must be begin:end or begin:end:step")
	}
	beg, end, step := bounds[0], bounds[1], "1"
	if len(bounds) == 3 {
		step = bounds[2]
	}
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return nil, fmt.Errorf("host range must specify end value")
	}
	width := 0
	if beg[0] == '0' && utf8.RuneCountInString(beg) > 1 {
		width = utf8.RuneCountInString(beg)
		if width != utf8.RuneCountInString(end) {
			return nil, fmt.Errorf("host range must specify equal-length begin and end formats")
		}
	}
	seq, err := rangeItems(beg, end, step, width, budget)
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, item := range seq {
		name := head + item + tail
		if !strings.Contains(name, "[") {
			hosts = append(hosts, name)
			continue
		}
		more, err := expandRanges(name, budget)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, more...)
	}
	return hosts, nil
}

const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// rangeItems lists the values of one range, letters first, then numbers.
func rangeItems(beg, end, step string, width int, budget *int) ([]string, error) {
	take := func(n int) error {
		if *budget -= n; *budget < 0 {
			return fmt.Errorf("it expands to more than %d hosts", maxRangeHosts)
		}
		return nil
	}
	ib, ie := strings.Index(asciiLetters, beg), strings.Index(asciiLetters, end)
	if ib >= 0 && ie >= 0 {
		if ib > ie {
			return nil, fmt.Errorf("host range must have begin <= end")
		}
		if st, err := pyParseInt(step); err == nil && st.Sign() != 0 {
			var out []string
			if st.Sign() > 0 {
				s := len(asciiLetters)
				if st.IsInt64() && st.Int64() < int64(s) {
					s = int(st.Int64())
				}
				for i := ib; i <= ie; i += s {
					out = append(out, asciiLetters[i:i+1])
				}
			}
			return out, take(len(out))
		}
	}
	b, err := pyParseInt(beg)
	if err != nil {
		return nil, err
	}
	e, err := pyParseInt(end)
	if err != nil {
		return nil, err
	}
	st, err := pyParseInt(step)
	if err != nil {
		return nil, err
	}
	if st.Sign() == 0 {
		return nil, fmt.Errorf("range() arg 3 must not be zero")
	}
	e.Add(e, big.NewInt(1))
	var out []string
	for i := new(big.Int).Set(b); (st.Sign() > 0 && i.Cmp(e) < 0) || (st.Sign() < 0 && i.Cmp(e) > 0); i.Add(i, st) {
		if err := take(1); err != nil {
			return nil, err
		}
		out = append(out, zfill(i.String(), width))
	}
	return out, nil
}

// zfill is Python's str.zfill: pad with zeros after any sign.
func zfill(s string, width int) string {
	if len(s) >= width {
		return s
	}
	sign := ""
	if s[0] == '-' || s[0] == '+' {
		sign, s = s[:1], s[1:]
	}
	return sign + strings.Repeat("0", width-len(sign)-len(s)) + s
}
