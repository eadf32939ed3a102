// Package pluginkit is what every labfleet Nagios plugin shares: the reserved
// options (-h, -V, -t, -v), threshold ranges, perfdata, the first line and
// long output, the 8 KB cap, the timeout and panic recovery. It wraps
// github.com/olorin/nagiosplugin (states, their severity, unit validation)
// and does itself what that library gets wrong for these plugins: it never
// calls os.Exit, quotes perfdata labels, carries range strings as
// warn/crit, parses ranges without panicking and reports a panic as
// UNKNOWN rather than CRITICAL.
//
// A plugin must print nothing itself and never exit: it records findings
// on a Result and returns; an error it returns is UNKNOWN.
package pluginkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Plugin is one check. New instances are made per run.
type Plugin interface {
	// Flags registers the plugin's own options; -h, -V, -t and -v are
	// registered already.
	Flags(fs *pflag.FlagSet)
	// Run performs the check within ctx (which ends at the --timeout),
	// recording findings on r. It returns an error only for what is
	// UNKNOWN: bad arguments (wrap ErrUsage) or an internal failure. A
	// target that is down or unreachable is a CRITICAL finding, not an
	// error.
	Run(ctx context.Context, r *Result) error
}

// Spec describes a plugin to the runtime.
type Spec struct {
	Name    string // executable name, e.g. "check_labagent"
	Label   string // first word of the output, e.g. "LABAGENT"
	Summary string // one line for --help
	Usage   string // synopsis after the name, e.g. "-H HOST [-p PORT] [-w RANGE] [-c RANGE]"
	Help    string // paragraphs for --help
	New     func() Plugin
}

// ErrUsage marks bad arguments; the message adds a pointer to --help.
// Every usage error is a *UsageError, and errors.Is(err, ErrUsage) holds.
var ErrUsage = errors.New("usage")

// UsageError is bad arguments. Its message names the option and says what
// would be right; the runtime prints it as it is, plus a pointer to --help.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrUsage) true.
func (e *UsageError) Is(target error) bool { return target == ErrUsage }

// Usagef returns a *UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// DefaultTimeout is -t's default, as in monitoring-plugins.
const DefaultTimeout = 10 * time.Second

// Version is what --version reports; the multi-call binary sets it.
var Version = "dev"

type reserved struct {
	help, version bool
	timeout       string
	verbose       int
}

// Run runs spec's plugin with args (without the program name), writes its
// output to stdout and returns the exit code. It returns at the timeout
// even if the plugin is stuck; the plugin's goroutine is abandoned, so the
// caller should exit soon after.
func Run(spec Spec, args []string, stdout io.Writer) int {
	fs := pflag.NewFlagSet(spec.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	var o reserved
	fs.BoolVarP(&o.help, "help", "h", false, "print this help and exit (status 3)")
	fs.BoolVarP(&o.version, "version", "V", false, "print the version and exit (status 3)")
	fs.StringVarP(&o.timeout, "timeout", "t", "10", "give up after `SECONDS` (or a duration such as 1500ms) with UNKNOWN naming the stage")
	fs.CountVarP(&o.verbose, "verbose", "v", "more detail in the long output (repeat up to 3 times)")
	p := spec.New()
	p.Flags(fs)

	err := fs.Parse(args)
	switch {
	case o.help:
		fmt.Fprint(stdout, helpText(spec, fs))
		return int(UNKNOWN)
	case o.version:
		fmt.Fprintf(stdout, "%s (labfleet) %s\n", spec.Name, Version)
		return int(UNKNOWN)
	case err != nil:
		return fail(stdout, spec, Usagef("%v", err))
	case fs.NArg() > 0:
		return fail(stdout, spec, Usagef("unexpected argument %q: the plugin takes options only", fs.Arg(0)))
	}
	timeout, err := parseTimeout(o.timeout)
	if err != nil {
		return fail(stdout, spec, err)
	}
	verbose := min(o.verbose, 3)
	return execute(spec, p, timeout, verbose, stdout)
}

func parseTimeout(s string) (time.Duration, error) {
	var d time.Duration
	if secs, err := parseNumber(s); err == nil {
		d = time.Duration(secs * float64(time.Second))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, Usagef("-t %q: want seconds (10) or a duration (1500ms)", s)
	}
	if d <= 0 {
		return 0, Usagef("-t %q: the timeout must be more than zero", s)
	}
	return d, nil
}

type outcome struct {
	err   error
	panic any
	stack []byte
}

func execute(spec Spec, p Plugin, timeout time.Duration, verbose int, stdout io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r := NewResult(spec.Label, verbose)
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- outcome{panic: v, stack: debug.Stack()}
			}
		}()
		done <- outcome{err: p.Run(ctx, r)}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		return timedOut(stdout, spec, timeout, r)
	}
	switch {
	case ctx.Err() != nil:
		// Whatever the check made of its expired context, the answer is
		// that it ran out of time.
		return timedOut(stdout, spec, timeout, r)
	case o.panic != nil:
		long := []string{}
		if verbose >= 3 {
			long = strings.Split(strings.TrimSpace(string(o.stack)), "\n")
		}
		fmt.Fprint(stdout, render(spec.Label, UNKNOWN, fmt.Sprintf("internal error: the plugin panicked while %s: %v", r.CurrentStage(), o.panic), nil, long))
		return int(UNKNOWN)
	case o.err != nil:
		return fail(stdout, spec, o.err)
	}
	out, err := safeRender(r)
	if err != nil {
		return fail(stdout, spec, err)
	}
	fmt.Fprint(stdout, out)
	return int(r.Status())
}

// safeRender renders r, turning a panic (a perfdata unit the check got
// wrong) into an error rather than a crash with exit code 2.
func safeRender(r *Result) (out string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("internal error: cannot render the result: %v", v)
		}
	}()
	return r.Render(), nil
}

func timedOut(stdout io.Writer, spec Spec, timeout time.Duration, r *Result) int {
	fmt.Fprint(stdout, render(spec.Label, UNKNOWN, fmt.Sprintf("timed out after %s while %s", timeout, r.CurrentStage()), nil, nil))
	return int(UNKNOWN)
}

// fail reports err as UNKNOWN.
func fail(stdout io.Writer, spec Spec, err error) int {
	msg := err.Error()
	if errors.Is(err, ErrUsage) {
		msg += fmt.Sprintf(" (see %s --help)", spec.Name)
	}
	fmt.Fprint(stdout, render(spec.Label, UNKNOWN, msg, nil, nil))
	return int(UNKNOWN)
}

// Dispatch runs the plugin named by the program name (a link such as
// check_labagent) or, when called as the multi-call binary itself, by the
// first argument. It returns the exit code.
func Dispatch(args []string, specs []Spec, stdout io.Writer) int {
	name := ""
	if len(args) > 0 {
		name = filepath.Base(args[0])
		args = args[1:]
	}
	if _, ok := find(specs, name); !ok && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if s, ok := find(specs, name); ok {
		return Run(s, args, stdout)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "labfleet-checks (labfleet) %s: Nagios plugins for labfleet.\n", Version)
	b.WriteString("Run as one of the plugins (a link to this program with its name), or give its name first:\n")
	b.WriteString("  labfleet-checks check_NAME [options]\n\nPlugins:\n")
	for _, s := range specs {
		fmt.Fprintf(&b, "  %-18s %s\n", s.Name, s.Summary)
	}
	if name != "" && name != "labfleet-checks" && name != "-h" && name != "--help" {
		fmt.Fprintf(&b, "\nNo plugin is called %q.\n", name)
	}
	fmt.Fprint(stdout, b.String())
	return int(UNKNOWN)
}

func find(specs []Spec, name string) (Spec, bool) {
	for _, s := range specs {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}
