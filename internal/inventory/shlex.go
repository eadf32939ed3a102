package inventory

import "errors"

// shlexSplit splits one line like Python's shlex.split(line, comments=True),
// which is how the ini plugin reads a host line: POSIX quoting, backslash
// escapes (inside double quotes only before " and \), and '#' starting a
// comment wherever a word could start or continue outside quotes.
func shlexSplit(line string) ([]string, error) {
	const (
		between = iota // skipping whitespace between words
		word
		single
		double
	)
	var (
		tokens []string
		cur    []byte
		quoted bool // the current word had quotes, so it counts even if empty
		state  = between
	)
	emit := func() {
		if len(cur) > 0 || quoted {
			tokens = append(tokens, string(cur))
		}
		cur, quoted = cur[:0:0], false
	}
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch state {
		case between, word:
			switch {
			case isSpace(c):
				if state == word {
					emit()
				}
				state = between
			case c == '#':
				if state == word {
					emit()
				}
				return tokens, nil
			case c == '\\':
				if i+1 >= len(line) {
					return nil, errors.New("No escaped character")
				}
				i++
				cur = append(cur, line[i])
				state = word
			case c == '\'':
				state, quoted = single, true
			case c == '"':
				state, quoted = double, true
			default:
				cur = append(cur, c)
				state = word
			}
		case single:
			if c == '\'' {
				state = word
			} else {
				cur = append(cur, c)
			}
		case double:
			switch {
			case c == '"':
				state = word
			case c == '\\':
				if i+1 >= len(line) {
					return nil, errors.New("No escaped character")
				}
				i++
				if line[i] != '"' && line[i] != '\\' {
					cur = append(cur, '\\')
				}
				cur = append(cur, line[i])
			default:
				cur = append(cur, c)
			}
		}
	}
	if state == single || state == double {
		return nil, errors.New("No closing quotation")
	}
	if state == word {
		emit()
	}
	return tokens, nil
}
