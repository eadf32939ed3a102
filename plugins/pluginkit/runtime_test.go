package pluginkit

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// fake is a plugin whose Run is given by the test.
type fake struct {
	run   func(ctx context.Context, r *Result) error
	warn  *RangeValue
	label string
}

func (f *fake) Flags(fs *pflag.FlagSet) {
	f.warn = RangeFlag(fs, "warning", "w", "5", "WARNING `RANGE`")
	fs.StringVar(&f.label, "label", "", "a string option")
}

func (f *fake) Run(ctx context.Context, r *Result) error { return f.run(ctx, r) }

func spec(run func(ctx context.Context, r *Result) error) Spec {
	return Spec{Name: "check_fake", Label: "FAKE", Summary: "a test plugin", Usage: "[-w RANGE]",
		New: func() Plugin { return &fake{run: run} }}
}

func run(t *testing.T, s Spec, args ...string) (string, int) {
	t.Helper()
	var b strings.Builder
	code := Run(s, args, &b)
	return b.String(), code
}

func okRun(_ context.Context, r *Result) error {
	r.OK("all fine")
	r.Perf(Perf{Label: "x", Value: 1})
	return nil
}

func TestRun_HelpVersionAndBadOptionsAreUnknown(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "Usage: check_fake [-w RANGE]"},
		{[]string{"--help"}, "-t, --timeout SECONDS"},
		{[]string{"-V"}, "check_fake (labfleet) "},
		{[]string{"--version"}, "check_fake (labfleet) "},
		{[]string{"--nope"}, "FAKE UNKNOWN: unknown flag: --nope (see check_fake --help)\n"},
		{[]string{"-w", "5:1"}, `FAKE UNKNOWN: invalid argument "5:1" for "-w, --warning" flag: invalid range "5:1": start 5 is greater than end 1 (see check_fake --help)`},
		{[]string{"-w", ""}, "empty range"},
		{[]string{"extra"}, `FAKE UNKNOWN: unexpected argument "extra": the plugin takes options only (see check_fake --help)`},
		{[]string{"-t", "0"}, "the timeout must be more than zero"},
		{[]string{"-t", "soon"}, `-t "soon": want seconds (10) or a duration (1500ms)`},
	} {
		out, code := run(t, spec(okRun), tc.args...)
		if code != 3 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output:\n%s\nwant exit 3 and %q", tc.args, code, out, tc.want)
		}
	}
}

func TestRun_RendersFirstLinePerfdataAndLongOutput(t *testing.T) {
	out, code := run(t, spec(func(_ context.Context, r *Result) error {
		r.OK("a fine")
		r.Warning("b is | odd")
		r.Critical("c broke")
		r.Warning("d too")
		w := MustRange("5")
		r.Perf(Perf{Label: "a b", Value: 1.5, UOM: "s", Warn: &w})
		r.Long("detail one")
		r.Verbose(1, "shown with -v")
		r.Verbose(2, "shown with -vv")
		return nil
	}), "-v")
	want := "FAKE CRITICAL: c broke; b is / odd; d too | 'a b'=1.5s;5\ndetail one\nshown with -v\n"
	if code != 2 || out != want {
		t.Errorf("exit %d, output:\n%q\nwant exit 2 and\n%q", code, out, want)
	}
	out, code = run(t, spec(okRun))
	if code != 0 || out != "FAKE OK: all fine | 'x'=1\n" {
		t.Errorf("OK run: exit %d, %q", code, out)
	}
	out, code = run(t, spec(func(context.Context, *Result) error { return nil }))
	if code != 3 || out != "FAKE UNKNOWN: the check recorded no result\n" {
		t.Errorf("empty run: exit %d, %q", code, out)
	}
}

// Text from an agent or a container can hold terminal escapes and line
// breaks; the output keeps to its lines and escapes the rest, so that
// neither Nagios nor a terminal reading it sees anything but text.
func TestRun_ControlCharactersAreEscaped(t *testing.T) {
	out, code := run(t, spec(func(_ context.Context, r *Result) error {
		r.Critical("agent says \x1b[2Jgone\r\nFAKE OK: | 'x'=1")
		r.Long("log: \x1b[31mred\tand\u202ereversed \xff")
		return nil
	}))
	want := "FAKE CRITICAL: agent says \\x1b[2Jgone  FAKE OK: / 'x'=1\nlog: \\x1b[31mred and\\u202ereversed \\xff\n"
	if code != 2 || out != want {
		t.Errorf("exit %d, output:\n%q\nwant\n%q", code, out, want)
	}
}

func TestRun_TimeoutNamesTheStageEvenWhenThePluginIgnoresIt(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	start := time.Now()
	out, code := run(t, spec(func(ctx context.Context, r *Result) error {
		r.Stage("talking to %s", "the slow thing")
		<-block // ignores ctx on purpose
		return nil
	}), "-t", "300ms")
	took := time.Since(start)
	if code != 3 || out != "FAKE UNKNOWN: timed out after 300ms while talking to the slow thing\n" {
		t.Errorf("exit %d, %q", code, out)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("returned after %s, want right after the 300ms timeout", took)
	}

	// A plugin that returns its context's error is reported as a timeout too.
	out, code = run(t, spec(func(ctx context.Context, r *Result) error {
		r.Stage("waiting politely")
		<-ctx.Done()
		r.Critical("gave up")
		return ctx.Err()
	}), "-t", "0.2")
	if code != 3 || out != "FAKE UNKNOWN: timed out after 200ms while waiting politely\n" {
		t.Errorf("exit %d, %q", code, out)
	}
}

func TestRun_PanicAndErrorsAreUnknown(t *testing.T) {
	out, code := run(t, spec(func(_ context.Context, r *Result) error {
		r.Stage("reading the thing")
		var m map[string]int
		m["x"] = 1
		return nil
	}))
	if code != 3 || !strings.HasPrefix(out, "FAKE UNKNOWN: internal error: the plugin panicked while reading the thing: assignment to entry in nil map\n") {
		t.Errorf("panic: exit %d, %q", code, out)
	}
	out, _ = run(t, spec(func(context.Context, *Result) error { panic("boom") }), "-vvv")
	if !strings.Contains(out, "goroutine") || strings.Count(out, "\n") < 3 {
		t.Errorf("-vvv should add the stack to the long output:\n%s", out)
	}
	out, code = run(t, spec(func(_ context.Context, r *Result) error {
		r.OK("fine")
		r.Perf(Perf{Label: "x", Value: 1, UOM: "seconds"})
		return nil
	}))
	if code != 3 || !strings.HasPrefix(out, "FAKE UNKNOWN: internal error: cannot render the result: perfdata \"x\": Invalid unit seconds") {
		t.Errorf("bad unit: exit %d, %q", code, out)
	}
	out, code = run(t, spec(func(context.Context, *Result) error { return errors.New("cannot parse the answer") }))
	if code != 3 || out != "FAKE UNKNOWN: cannot parse the answer\n" {
		t.Errorf("error: exit %d, %q", code, out)
	}
	out, code = run(t, spec(func(context.Context, *Result) error { return Usagef("--app is required") }))
	if code != 3 || out != "FAKE UNKNOWN: --app is required (see check_fake --help)\n" {
		t.Errorf("usage error: exit %d, %q", code, out)
	}
}

func TestRender_StaysUnder8KBAndSaysWhatWasCut(t *testing.T) {
	perf := func(n int) []Perf {
		var p []Perf
		for i := range n {
			p = append(p, Perf{Label: fmt.Sprintf("metric_%03d", i), Value: float64(i)})
		}
		return p
	}
	var long []string
	for i := range 300 {
		long = append(long, fmt.Sprintf("line %03d %s", i, strings.Repeat("x", 40)))
	}

	// Long output is cut first, with a note.
	out := render("FAKE", CRITICAL, strings.Repeat("é", 500), perf(100), long)
	if len(out) >= MaxOutput {
		t.Fatalf("output is %d bytes, want under %d", len(out), MaxOutput)
	}
	first, rest, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(first, "FAKE CRITICAL: éé") || !strings.HasSuffix(first, "'metric_099'=99") {
		t.Errorf("the first line should be whole: %.80s...%s", first, first[len(first)-40:])
	}
	if !strings.HasPrefix(rest, "line 000") || !strings.HasSuffix(rest, "more lines cut (Nagios keeps 8192 bytes of output)\n") {
		t.Errorf("long output should start at line 000 and end with a note: %.40s ... %s", rest, rest[max(0, len(rest)-80):])
	}

	// Then perfdata, whole data only.
	out = render("FAKE", CRITICAL, strings.Repeat("é", 3000), perf(300), long)
	first, _, _ = strings.Cut(out, "\n")
	if len(out) >= MaxOutput || !strings.Contains(first, "'metric_000'=0") || strings.Contains(first, "'metric_299'") ||
		!regexp.MustCompile(` 'metric_[0-9]{3}'=[0-9]+$`).MatchString(first) {
		t.Errorf("perfdata should be cut to whole data that fit: %d bytes, first line ends %q", len(out), first[len(first)-30:])
	}

	// Then the summary, on a rune boundary.
	huge := render("FAKE", OK, strings.Repeat("ü", 9000), perf(1), []string{"a"})
	if len(huge) >= MaxOutput || !strings.HasSuffix(strings.Split(huge, "\n")[0], "ü ...") {
		t.Errorf("a summary over 8 KB should be cut on a rune boundary: %d bytes, ends %q", len(huge), huge[len(huge)-20:])
	}
}

func TestDispatch_ByProgramNameOrFirstArgument(t *testing.T) {
	specs := []Spec{spec(okRun)}
	for _, args := range [][]string{
		{"/usr/lib/nagios/plugins/check_fake"},
		{"./labfleet-checks", "check_fake"},
	} {
		var b strings.Builder
		if code := Dispatch(args, specs, &b); code != 0 || b.String() != "FAKE OK: all fine | 'x'=1\n" {
			t.Errorf("Dispatch(%v): exit %d, %q", args, code, b.String())
		}
	}
	var b strings.Builder
	if code := Dispatch([]string{"labfleet-checks", "check_nope"}, specs, &b); code != 3 ||
		!strings.Contains(b.String(), "check_fake") || !strings.Contains(b.String(), `No plugin is called "check_nope"`) {
		t.Errorf("unknown plugin: exit %d, %q", code, b.String())
	}
}
