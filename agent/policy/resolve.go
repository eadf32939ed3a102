package policy

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// forms returns every host path a bind-mount source may stand for, so that
// no spelling slips past a rule: first the path cleaned (the engine cleans
// a bind source), then that with its symlinks resolved (what the kernel
// mounts), then the path as written with symlinks resolved before any ".."
// (where ".." after a symlink leaves the symlink's target). Parts of the
// path that do not exist are kept as written; the engine refuses a bind
// source that does not exist anyway. When resolving fails, the forms found
// so far (at least the cleaned path) come with the error.
func forms(p string) ([]string, error) {
	clean := filepath.Clean(p)
	out := []string{clean}
	for _, in := range []string{clean, p} {
		r, err := resolve(in)
		if err != nil {
			return out, err
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// formsOrClean is forms for paths from the policy itself, which must be
// checked even when they cannot be resolved.
func formsOrClean(p string) []string {
	f, _ := forms(p)
	return f
}

// resolve resolves the symlinks of the longest leading part of the
// absolute path p that exists and appends the rest as written.
func resolve(p string) (string, error) {
	parts := strings.Split(p, "/")
	for n := len(parts); n > 0; n-- {
		head := strings.Join(parts[:n], "/")
		if head == "" {
			head = "/"
		}
		r, err := filepath.EvalSymlinks(head)
		if err == nil {
			return filepath.Join(append([]string{r}, parts[n:]...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return "", err
		}
	}
	return filepath.Clean(p), nil
}
