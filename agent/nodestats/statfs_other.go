//go:build !linux

package nodestats

import (
	"errors"
	"fmt"
)

// sysStatfs keeps the package building on developer machines; node stats are
// only collected on Linux hosts, where /proc exists.
func sysStatfs(path string) (Fs, error) {
	return Fs{}, fmt.Errorf("statfs %s: %w on this OS", path, errors.ErrUnsupported)
}
