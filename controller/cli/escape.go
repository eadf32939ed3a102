package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from agents (messages, versions, errors, a container's log lines)
// is data, not terminal output: a broken or malicious container's log line
// must not move the cursor, clear the screen or fake a line of ours. esc
// escapes it where it is printed; termWriter is the last line of defence
// on everything labcontroller writes.

// esc returns s with every character that is not printable escaped the way
// strconv.Quote does (\n, \t, \x1b, \u202e), without quotes around it and
// leaving quotes and backslashes as they are. Use it for any value that
// comes from an agent, the inventory or a file and goes into one line.
func esc(s string) string {
	if printable(s) {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

func printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || (r != ' ' && !unicode.IsPrint(r)) {
			return false
		}
	}
	return true
}

// escLines splits multi-line text (a log tail entry) into lines, each
// escaped; a trailing line break makes no empty line.
func escLines(s string) []string {
	s = strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = esc(l)
	}
	return lines
}

// escText escapes multi-line text of ours that carries values from agents
// (an error listing several nodes), keeping its line breaks.
func escText(s string) string { return strings.Join(escLines(s), "\n") }

// termWriter escapes the control characters other than newline and tab in
// everything written through it: what esc missed can still not reach the
// terminal as a control sequence. Printable text, UTF-8 included, passes
// as it is.
type termWriter struct{ w io.Writer }

func (t termWriter) Write(p []byte) (int, error) {
	clean := true
	for _, c := range p {
		if isCtl(c) {
			clean = false
			break
		}
	}
	if clean {
		return t.w.Write(p)
	}
	var b strings.Builder
	for _, c := range p {
		if isCtl(c) {
			q := strconv.QuoteRune(rune(c))
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteByte(c)
	}
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// isCtl reports an ASCII control byte other than newline and tab. Bytes of
// multi-byte UTF-8 sequences are never ASCII, so a rune split across two
// writes passes intact.
func isCtl(c byte) bool { return (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f }
