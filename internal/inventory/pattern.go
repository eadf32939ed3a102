package inventory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Select returns the hosts of group ("" means "all") that match an Ansible
// --limit pattern, in the group's order. An empty limit selects them all.
//
// The limit accepts what ansible-playbook --limit does: host and group
// names, "a:b" or "a,b" for union, "&g" for intersection, "!g" to exclude,
// shell globs ("web*", "db?", "[ab]x"), "~regex" (matched from the start of
// the name), "all" or "*", and subscripts such as "web[0]" or "web[1:3]".
// Unlike Ansible, which only warns, a plain name matching no host or group is
// an error, because a typo in --limit should not silently do nothing.
func (inv *Inventory) Select(group, limit string) ([]string, error) {
	if group == "" {
		group = "all"
	}
	hosts, err := inv.GroupHosts(group)
	if err != nil {
		return nil, err
	}
	patterns := splitHostPattern(limit)
	if len(patterns) == 0 {
		return hosts, nil
	}
	keep, err := inv.evaluate(patterns)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range hosts {
		if keep[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

// splitHostPattern splits on commas, or else on colons that are not part of
// an address or a [x:y] range, as Ansible's split_host_pattern does.
func splitHostPattern(pattern string) []string {
	var parts []string
	switch {
	case strings.Contains(pattern, ","):
		parts = strings.Split(pattern, ",")
	default:
		if _, _, ok := parseAddress(pattern); ok {
			parts = []string{pattern}
		} else {
			parts = colonParts(pattern)
		}
	}
	var out []string
	for _, p := range parts {
		if p = pyStrip(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// colonParts finds runs of characters other than whitespace, ':', '[' and
// ']', where a complete [...] counts as one character.
func colonParts(s string) []string {
	var parts []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '[':
			if j := strings.IndexByte(s[i+1:], ']'); j >= 0 {
				cur.WriteString(s[i : i+j+2])
				i += j + 2
				continue
			}
			flush()
		case r == ':' || r == ']' || pyIsSpace(r):
			flush()
		default:
			cur.WriteString(s[i : i+size])
		}
		i += size
	}
	flush()
	return parts
}

// evaluate applies patterns in Ansible's order: plain ones first, then the
// &intersections, then the !exclusions. It returns the chosen host names.
func (inv *Inventory) evaluate(patterns []string) (map[string]bool, error) {
	var regular, and, not []string
	for _, p := range patterns {
		switch p[0] {
		case '!':
			not = append(not, p)
		case '&':
			and = append(and, p)
		default:
			regular = append(regular, p)
		}
	}
	if len(regular) == 0 {
		regular = []string{"all"}
	}
	chosen := map[string]bool{}
	for _, p := range append(append(regular, and...), not...) {
		if _, ok := inv.Hosts[p]; ok {
			chosen[p] = true
			continue
		}
		matched, err := inv.matchOne(strings.TrimLeft(p[:1], "&!") + p[1:])
		if err != nil {
			return nil, err
		}
		set := map[string]bool{}
		for _, h := range matched {
			set[h] = true
		}
		switch p[0] {
		case '!':
			for h := range set {
				delete(chosen, h)
			}
		case '&':
			for h := range chosen {
				if !set[h] {
					delete(chosen, h)
				}
			}
		default:
			for h := range set {
				chosen[h] = true
			}
		}
	}
	return chosen, nil
}

var subscriptPattern = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`)

// matchOne resolves one pattern (without its & or !) to host names.
func (inv *Inventory) matchOne(pattern string) ([]string, error) {
	if pattern == "" {
		return nil, nil
	}
	expr, start, end, sub := pattern, 0, 0, false
	if pattern[0] != '~' {
		if m := subscriptPattern.FindStringSubmatch(pattern); m != nil {
			expr, sub = m[1], true
			if m[2] != "" {
				start, _ = strconv.Atoi(m[2])
				end = 0
			} else {
				start, _ = strconv.Atoi(m[3])
				end = -1
				if m[5] != "" {
					end, _ = strconv.Atoi(m[5])
				}
			}
		}
	}
	hosts, err := inv.enumerate(expr)
	if err != nil || !sub || len(hosts) == 0 {
		return hosts, err
	}
	// Ansible's subscripts are inclusive, and an end of 0 means "just start".
	if end != 0 {
		if end == -1 {
			end = len(hosts) - 1
		}
		lo, hi := pySliceIndex(start, len(hosts)), pySliceIndex(end+1, len(hosts))
		if lo >= hi {
			return nil, nil
		}
		return hosts[lo:hi], nil
	}
	i := start
	if i < 0 {
		i += len(hosts)
	}
	if i < 0 || i >= len(hosts) {
		return nil, fmt.Errorf("%w: no hosts matched the subscripted pattern %q (it matches %d hosts, counted from 0)", ErrBadPattern, pattern, len(hosts))
	}
	return hosts[i : i+1], nil
}

func pySliceIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

// enumerate matches a name, glob or ~regex against group names (taking all
// their hosts) and, when no group matched or the pattern has wildcards,
// against host names.
func (inv *Inventory) enumerate(pattern string) ([]string, error) {
	match, err := compileMatcher(pattern)
	if err != nil {
		return nil, err
	}
	var hosts []string
	groupMatched := false
	for _, g := range inv.orderedGroups() {
		if match(g) {
			groupMatched = true
			gh, _ := inv.GroupHosts(g)
			hosts = append(hosts, gh...)
		}
	}
	if !groupMatched || pattern[0] == '~' || strings.ContainsAny(pattern, ".?*[") {
		for _, h := range inv.orderedHosts() {
			if match(h) {
				hosts = append(hosts, h)
			}
		}
	}
	if len(hosts) == 0 && !groupMatched && pattern[0] != '~' && !strings.ContainsAny(pattern, "?*[") {
		return nil, fmt.Errorf("%w %q in --limit", ErrUnknownName, pattern)
	}
	return hosts, nil
}

// compileMatcher builds a full-name glob matcher, or for "~re" a regular
// expression anchored at the start only (Python's re.match).
func compileMatcher(pattern string) (func(string) bool, error) {
	if pattern[0] == '~' {
		re, err := regexp.Compile(`^(?:` + pattern[1:] + `)`)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBadPattern, pattern, err)
		}
		return re.MatchString, nil
	}
	g := parseGlob(pattern)
	return g.match, nil
}
