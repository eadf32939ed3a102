package pluginkit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/olorin/nagiosplugin"
)

// Status is a plugin's state; its numeric value is the exit code.
type Status = nagiosplugin.Status

// The four plugin states.
const (
	OK       = nagiosplugin.OK
	WARNING  = nagiosplugin.WARNING
	CRITICAL = nagiosplugin.CRITICAL
	UNKNOWN  = nagiosplugin.UNKNOWN
)

// MaxOutput is Nagios Core's limit on a plugin's whole output; Render keeps
// below it.
const MaxOutput = 8192

// severity orders states the way nagiosplugin's default policy does:
// OK < WARNING < CRITICAL < UNKNOWN.
var severity = *nagiosplugin.NewDefaultStatusPolicy()

// Worse reports whether a is more severe than b.
func Worse(a, b Status) bool { return severity[a] > severity[b] }

type message struct {
	status Status
	text   string
}

// Result collects what a check found: messages with a state each (the worst
// state is the plugin's), perfdata and long-output lines. A check fills it
// from one goroutine; the runtime reads the stage concurrently, for the
// timeout message.
type Result struct {
	label    string
	verbose  int
	messages []message
	perf     []Perf
	long     []string

	mu    sync.Mutex
	stage string
}

// NewResult returns an empty result for a plugin whose output starts with
// label (e.g. "REPLICATION"), at verbosity verbose (0-3).
func NewResult(label string, verbose int) *Result {
	return &Result{label: label, verbose: verbose, stage: "starting"}
}

// Add records a finding; its text goes on the first line when its state is
// the worst one (or, when all is OK, with the other OK findings).
func (r *Result) Add(s Status, format string, args ...any) {
	r.messages = append(r.messages, message{s, fmt.Sprintf(format, args...)})
}

// OK records a finding that is fine.
func (r *Result) OK(format string, args ...any) { r.Add(OK, format, args...) }

// Warning records a finding that needs attention.
func (r *Result) Warning(format string, args ...any) { r.Add(WARNING, format, args...) }

// Critical records a finding that is broken.
func (r *Result) Critical(format string, args ...any) { r.Add(CRITICAL, format, args...) }

// Unknown records a finding the check could not establish.
func (r *Result) Unknown(format string, args ...any) { r.Add(UNKNOWN, format, args...) }

// Perf records a performance datum.
func (r *Result) Perf(p Perf) { r.perf = append(r.perf, p) }

// Long adds a long-output line (always shown).
func (r *Result) Long(format string, args ...any) { r.Verbose(0, format, args...) }

// Verbose adds a long-output line shown only at -v level and above.
func (r *Result) Verbose(level int, format string, args ...any) {
	if r.verbose < level {
		return
	}
	for line := range strings.Lines(fmt.Sprintf(format, args...)) {
		r.long = append(r.long, strings.TrimRight(line, "\r\n"))
	}
}

// Verbosity is the number of -v given (0-3).
func (r *Result) Verbosity() int { return r.verbose }

// Stage names what the check is doing now, e.g. "calling GetInfo on the
// agent at 127.0.0.1:7443"; a timeout reports it.
func (r *Result) Stage(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stage = fmt.Sprintf(format, args...)
}

// CurrentStage returns what Stage last set.
func (r *Result) CurrentStage() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stage
}

// Status is the worst state recorded; UNKNOWN when nothing was.
func (r *Result) Status() Status {
	if len(r.messages) == 0 {
		return UNKNOWN
	}
	s := OK
	for _, m := range r.messages {
		if Worse(m.status, s) {
			s = m.status
		}
	}
	return s
}

// summary is the first line's text: every finding that is not OK, worst
// first, or all the OK ones when nothing is wrong.
func (r *Result) summary() string {
	if len(r.messages) == 0 {
		return "the check recorded no result"
	}
	ms := slices.Clone(r.messages)
	if r.Status() != OK {
		ms = slices.DeleteFunc(ms, func(m message) bool { return m.status == OK })
	}
	slices.SortStableFunc(ms, func(a, b message) int { return int(severity[b.status]) - int(severity[a.status]) })
	texts := make([]string, len(ms))
	for i, m := range ms {
		texts[i] = m.text
	}
	return strings.Join(texts, "; ")
}

// Render returns the plugin's output: "LABEL STATUS: summary | perfdata",
// then the long output, each line ending in a newline, the whole under
// MaxOutput bytes. What does not fit is dropped from the end: long-output
// lines first (with a note saying how many), then perfdata, then the
// summary's tail.
func (r *Result) Render() string {
	return render(r.label, r.Status(), r.summary(), r.perf, r.long)
}

func render(label string, s Status, summary string, perf []Perf, long []string) string {
	budget := MaxOutput - 1
	head := fmt.Sprintf("%s %s: %s", label, s, clean(summary))
	data := make([]string, len(perf))
	for i, p := range perf {
		data[i] = p.String()
	}
	first := head
	for n := len(data); n >= 0; n-- {
		first = head
		if n > 0 {
			first += " | " + strings.Join(data[:n], " ")
		}
		if len(first)+1 <= budget {
			break
		}
	}
	if len(first)+1 > budget {
		first = cut(head, budget-1-len(" ..."), " ...")
	}
	var b strings.Builder
	b.WriteString(first + "\n")
	for i, line := range long {
		line = clean(line) + "\n"
		if i == len(long)-1 && b.Len()+len(line) <= budget {
			b.WriteString(line)
			break
		}
		note := fmt.Sprintf("... %d more lines cut (Nagios keeps %d bytes of output)\n", len(long)-i, MaxOutput)
		if b.Len()+len(line)+len(note) <= budget {
			b.WriteString(line)
			continue
		}
		if b.Len()+len(note) <= budget {
			b.WriteString(note)
		}
		break
	}
	return b.String()
}

// clean keeps text from being read as perfdata or as more lines, and
// escapes other control characters (an agent's or a container's text may
// hold terminal escapes, which would garble a terminal or a notification
// mail), the way strconv.Quote writes them: \x1b, \u202e.
func clean(s string) string {
	s = strings.NewReplacer("|", "/", "\n", " ", "\r", " ", "\t", " ").Replace(s)
	if !strings.ContainsFunc(s, unprintable) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unprintable(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unprintable(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

// cut shortens s to at most n bytes on a rune boundary and adds tail.
func cut(s string, n int, tail string) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + tail
}
