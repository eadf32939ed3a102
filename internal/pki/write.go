package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	certMode fs.FileMode = 0o644
	keyMode  fs.FileMode = 0o600
)

// pemFile is one file Init is about to write.
type pemFile struct {
	name string // base name, e.g. "node1.key"
	path string // name joined to the target directory
	data []byte
	mode fs.FileMode
}

// refuseExisting fails naming every target that already exists, so the user
// learns about all of them at once rather than one per run.
func refuseExisting(dir string, files []pemFile) error {
	var existing []string
	for _, f := range files {
		_, err := os.Lstat(f.path)
		switch {
		case err == nil:
			existing = append(existing, f.name)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("cannot check %s: %w", f.path, err)
		}
	}
	if len(existing) > 0 {
		return fmt.Errorf("%w in %s: %s; use --force to replace them", ErrExists, dir, strings.Join(existing, ", "))
	}
	return nil
}

// writeFileAtomic writes data to a temporary file in the target's directory
// and renames it into place, so readers see the old file or the new one,
// never a truncated key. The mode is set with Chmod so the umask cannot
// loosen or tighten it.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("cannot write %s: %w", path, err)
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// syncDir flushes the renames to disk, so a crash right after init does not
// bring back the old files or lose the new ones.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	return nil
}
