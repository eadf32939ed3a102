package inventory

// glob is a shell pattern with Python fnmatch semantics, which Ansible uses
// for host patterns: '*' is any run, '?' any one character, "[...]" a class
// ("[!...]" negated, ']' literal when first, reversed ranges empty), an
// unclosed '[' is literal, and the pattern must match the whole name.
type glob []globItem

type globItem struct {
	star   bool
	any    bool // '?'
	class  bool
	neg    bool
	lit    rune
	ranges [][2]rune
}

func parseGlob(pattern string) glob {
	pat := []rune(pattern)
	var g glob
	for i := 0; i < len(pat); {
		c := pat[i]
		i++
		switch c {
		case '*':
			if len(g) == 0 || !g[len(g)-1].star {
				g = append(g, globItem{star: true})
			}
		case '?':
			g = append(g, globItem{any: true})
		case '[':
			j := i
			if j < len(pat) && pat[j] == '!' {
				j++
			}
			if j < len(pat) && pat[j] == ']' {
				j++
			}
			for j < len(pat) && pat[j] != ']' {
				j++
			}
			if j >= len(pat) {
				g = append(g, globItem{lit: '['})
				continue
			}
			g = append(g, classItem(pat[i:j]))
			i = j + 1
		default:
			g = append(g, globItem{lit: c})
		}
	}
	return g
}

func classItem(body []rune) globItem {
	item := globItem{class: true}
	if len(body) > 0 && body[0] == '!' {
		item.neg, body = true, body[1:]
	}
	for k := 0; k < len(body); k++ {
		lo, hi := body[k], body[k]
		if k+2 < len(body) && body[k+1] == '-' {
			hi = body[k+2]
			k += 2
		}
		if lo <= hi {
			item.ranges = append(item.ranges, [2]rune{lo, hi})
		}
	}
	return item
}

func (it globItem) matches(r rune) bool {
	switch {
	case it.any:
		return true
	case it.class:
		in := false
		for _, rg := range it.ranges {
			if r >= rg[0] && r <= rg[1] {
				in = true
				break
			}
		}
		return in != it.neg
	}
	return r == it.lit
}

// match reports whether the whole name matches, backtracking to the last
// star on a mismatch.
func (g glob) match(name string) bool {
	s := []rune(name)
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		switch {
		case pi < len(g) && g[pi].star:
			starP, starS = pi, si
			pi++
		case pi < len(g) && g[pi].matches(s[si]):
			pi++
			si++
		case starP >= 0:
			starS++
			pi, si = starP+1, starS
		default:
			return false
		}
	}
	for pi < len(g) && g[pi].star {
		pi++
	}
	return pi == len(g)
}
