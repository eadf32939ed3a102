package labtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Result is a finished command.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs a program with a deadline and returns its output and exit code;
// it fails the test only when the program cannot be started or hangs.
// Under -short it skips the test (RequireReal): every program is real.
func Run(t testing.TB, env []string, name string, args ...string) Result {
	t.Helper()
	RequireReal(t, filepath.Base(name))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within 2 minutes", name, args)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}
