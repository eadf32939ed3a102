package labtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Tmpfs is a small tmpfs a test mounts (as root) to give an agent a state
// dir that can fill up or turn read-only under it.
type Tmpfs struct {
	Dir string
	t   testing.TB
}

// MountTmpfs mounts a tmpfs of size (mount's syntax: "4m") on a fresh
// directory and unmounts it when the test ends, after the agents started
// later are stopped. It needs root; under -short it skips the test.
func MountTmpfs(t testing.TB, size string) *Tmpfs {
	t.Helper()
	RequireReal(t, "a tmpfs (mount, as root)")
	if os.Geteuid() != 0 {
		t.Fatalf("labtest.MountTmpfs: mounting a tmpfs needs root (make test runs as root in CI)")
	}
	dir := t.TempDir()
	m := &Tmpfs{Dir: dir, t: t}
	m.mount("-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir)
	t.Cleanup(func() {
		if b, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, b)
		}
	})
	return m
}

func (m *Tmpfs) mount(args ...string) {
	m.t.Helper()
	if b, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		m.t.Fatalf("mount %s: %v: %s", strings.Join(args, " "), err, b)
	}
}

// ReadOnly remounts the tmpfs read-only; files stay readable.
func (m *Tmpfs) ReadOnly() {
	m.t.Helper()
	m.mount("-o", "remount,ro", m.Dir)
}

// ReadWrite remounts it read-write again.
func (m *Tmpfs) ReadWrite() {
	m.t.Helper()
	m.mount("-o", "remount,rw", m.Dir)
}

// Fill writes a file until the tmpfs has no space left and returns a
// function that removes it again.
func (m *Tmpfs) Fill() (free func()) {
	m.t.Helper()
	p := filepath.Join(m.Dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		m.t.Fatalf("labtest: fill %s: %v", m.Dir, err)
	}
	buf := make([]byte, 64<<10)
	for {
		_, err = f.Write(buf)
		if err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		m.t.Fatalf("labtest: fill %s: %v, want ENOSPC", m.Dir, err)
	}
	// Whatever a page or two of slack is left goes too.
	for _, n := range []int{4096, 512, 1} {
		g, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			break
		}
		for {
			if _, err := g.Write(buf[:n]); err != nil {
				break
			}
		}
		g.Close()
	}
	return func() {
		m.t.Helper()
		if err := os.Remove(p); err != nil {
			m.t.Fatalf("labtest: free %s: %v", m.Dir, err)
		}
	}
}
