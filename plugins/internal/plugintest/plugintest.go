// Package plugintest runs the built Nagios plugins the way Nagios does (a
// program named check_NAME, its exit code and stdout) and compares what
// they print with golden files, with the parts that change from run to run
// (addresses, durations, versions, IDs, measured values) normalised.
//
// It builds plugins/cmd/labfleet-checks once per test process and never
// fakes a target: tests point the plugins at real agents, MariaDB, HAProxy
// and HTTP servers started with internal/labtest. Under -short, Dir and Run
// skip the test (labtest.RequireReal): the built plugins are real programs.
package plugintest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// Update rewrites the golden files instead of comparing: go test -update.
var Update = flag.Bool("update", false, "rewrite the plugins' golden files")

// Plugins are the plugins the Makefile makes: links to labfleet-checks, and
// check_app built on its own (-tags labfleet_lean) so it starts faster.
var Plugins = []string{"check_labagent", "check_container", "check_replication", "check_node", "check_deploy", "check_app", "check_haproxy"}

var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "labfleet-checks-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "labfleet-checks")
	cmd := exec.Command("go", "build", "-o", bin, "./plugins/cmd/labfleet-checks")
	cmd.Dir = labtest.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build labfleet-checks: %v\n%s", err, out)
	}
	for _, p := range Plugins {
		if p == "check_app" {
			continue
		}
		if err := os.Symlink("labfleet-checks", filepath.Join(dir, p)); err != nil {
			return "", err
		}
	}
	// check_app is the lean build, as the Makefile makes it.
	lean := exec.Command("go", "build", "-tags", "labfleet_lean", "-o", filepath.Join(dir, "check_app"), "./plugins/cmd/labfleet-checks")
	lean.Dir = labtest.RepoRoot()
	if out, err := lean.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build check_app (lean): %v\n%s", err, out)
	}
	return dir, nil
})

// Dir builds the plugins (once per process) and returns the directory that
// holds labfleet-checks and its check_* links.
func Dir(t testing.TB) string {
	t.Helper()
	labtest.RequireReal(t, "the plugins built for the test")
	dir, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Result is one plugin run.
type Result struct {
	Out  string // stdout, all Nagios reads
	Err  string // stderr, which must stay empty
	Code int
	Took time.Duration
}

// Status is the exit code's name, for failure messages.
func (r Result) Status() string {
	return [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}[min(max(r.Code, 0), 3)]
}

// Run runs plugin (e.g. "check_node") through its link with args and env
// (added to a copy of the test's environment without the password
// variables), and fails the test if it does not end within a minute or
// writes to stderr.
func Run(t testing.TB, env []string, plugin string, args ...string) Result {
	t.Helper()
	labtest.RequireReal(t, plugin+" built for the test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(Dir(t), plugin), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LABFLEET_DB_PASSWORD=") && !strings.HasPrefix(kv, "MYSQL_PWD=") && !strings.HasPrefix(kv, "LABFLEET_INVENTORY=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := Result{Out: out.String(), Err: errb.String(), Took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not end within a minute", plugin, strings.Join(args, " "))
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("cannot run %s: %v", plugin, err)
	}
	if r.Err != "" {
		t.Errorf("%s %s wrote to stderr (plugins print to stdout only):\n%s", plugin, strings.Join(args, " "), r.Err)
	}
	return r
}

// Want fails the test unless the run exited with code and its output
// contains every one of subs.
func (r Result) Want(t testing.TB, code int, subs ...string) {
	t.Helper()
	if r.Code != code {
		t.Errorf("exit %d (%s), want %d; output:\n%s", r.Code, r.Status(), code, r.Out)
		return
	}
	for _, s := range subs {
		if !strings.Contains(r.Out, s) {
			t.Errorf("output lacks %q:\n%s", s, r.Out)
		}
	}
}

// HungListener returns the address of a loopback TCP listener that accepts
// connections and never answers, for timeout tests.
func HungListener(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(labtest.LoopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// ClosedAddr returns a loopback address where nothing listens.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	return labtest.FreeAddr(t, labtest.LoopbackIP())
}

// ClosedURL returns an http URL on a loopback address where nothing
// listens.
func ClosedURL(t testing.TB) string {
	t.Helper()
	return "http://" + ClosedAddr(t) + "/stats;csv"
}

// SplitAddr splits HOST:PORT for -H and -p.
func SplitAddr(t testing.TB, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// Norm is one normalisation applied before comparing with a golden file.
type Norm struct {
	re   *regexp.Regexp
	repl string
}

// Literal replaces every occurrence of old by new.
func Literal(old, new string) Norm {
	return Norm{regexp.MustCompile(regexp.QuoteMeta(old)), new}
}

// Regexp replaces matches of expr by repl ($1 etc. expand).
func Regexp(expr, repl string) Norm { return Norm{regexp.MustCompile(expr), repl} }

// Volatile replaces the values of the named perfdata labels by N.
func Volatile(labels ...string) Norm {
	quoted := make([]string, len(labels))
	for i, l := range labels {
		quoted[i] = regexp.QuoteMeta(l)
	}
	return Regexp(`('(?:`+strings.Join(quoted, "|")+`)')=-?[0-9.]+`, "${1}=N")
}
