// Package labtest starts the real programs labfleet's tests run against
// (labagent, labcontroller, later MariaDB, HAProxy and Nagios) and cleans
// them up with t.Cleanup. It never fakes a component: a test that needs a
// program that is missing fails, because `make test` installs them all.
// Under `go test -short` every helper that starts or needs a real program
// skips the test instead (see RequireReal), so -short runs on a machine
// with only the Go toolchain.
package labtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// RequireReal skips the test under -short: it needs what (a real program,
// the Docker Engine, or one of labfleet's binaries built for the test),
// which -short promises not to use. Every helper here that starts or needs
// one calls it first; a test that runs a real program by itself calls it
// before doing so.
func RequireReal(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: real-component test, skipped by -short", what)
	}
}

// RepoRoot is the repository root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Tool returns the path of an external program the tests need, looking in
// PATH, GOPATH/bin and /usr/sbin, and fails the test when it is missing.
// Under -short it skips the test (RequireReal).
func Tool(t testing.TB, name string) string {
	t.Helper()
	RequireReal(t, name)
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	for _, dir := range []string{filepath.Join(gopath, "bin"), "/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatalf("%s is not installed: run `make deps` (scripts/install-deps.sh) first", name)
	return ""
}

var (
	buildMu  sync.Mutex
	binDir   string
	built    = map[string]error{}
	packages = map[string][]string{
		"labagent":      {"-tags", "labfleet_faultinject", "./agent/cmd/labagent"},
		"labcontroller": {"./controller/cmd/labcontroller"},
	}
)

// Binary builds (once per test process) and returns the path of one of
// labfleet's own commands, e.g. "labagent" or "labcontroller". labagent is
// built with the labfleet_faultinject tag so tests can make a handler panic.
// Under -short it skips the test (RequireReal).
func Binary(t testing.TB, name string) string {
	t.Helper()
	RequireReal(t, name+" built for the test")
	buildMu.Lock()
	defer buildMu.Unlock()
	if binDir == "" {
		d, err := os.MkdirTemp("", "labfleet-bin-")
		if err != nil {
			t.Fatal(err)
		}
		binDir = d
	}
	out := filepath.Join(binDir, name)
	err, done := built[name]
	if !done {
		pkg, ok := packages[name]
		if !ok {
			t.Fatalf("labtest.Binary: unknown binary %q", name)
		}
		args := append([]string{"build", "-o", out}, pkg...)
		cmd := exec.Command("go", args...)
		cmd.Dir = RepoRoot()
		if b, e := cmd.CombinedOutput(); e != nil {
			err = fmt.Errorf("go %v: %v\n%s", args, e, b)
		}
		built[name] = err
	}
	if err != nil {
		t.Fatalf("cannot build %s: %v", name, err)
	}
	return out
}

var nextIP atomic.Uint32

// LoopbackIP returns a loopback address no other test in this process uses,
// from 127.0.1.0/24 upwards, so parallel tests and a running lab
// (127.0.0.10-12) never collide. The offset per process comes from the PID.
func LoopbackIP() string {
	n := nextIP.Add(1) + uint32(os.Getpid()%200)*256
	return fmt.Sprintf("127.%d.%d.%d", 1+(n>>16)%250, (n>>8)%256, 1+n%250)
}

// FreeAddr returns ip:port with a port that was free a moment ago.
func FreeAddr(t testing.TB, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("cannot find a free port on %s: %v", ip, err)
	}
	defer l.Close()
	return l.Addr().String()
}

// terminate stops a process the way its tests expect a service to be
// stopped: SIGTERM, then up to grace for it to exit, then SIGKILL.
func terminate(p *os.Process, exited <-chan struct{}, grace time.Duration) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = p.Kill()
		<-exited
	}
}
