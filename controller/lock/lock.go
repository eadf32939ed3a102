// Package lock is the fleet lock: one deploy (or rollback) of an app at a
// time across every labcontroller on the control server. It is an flock(2)
// on a file per app, so a controller that dies, even by SIGKILL, releases
// it at once; the file also names the holder for whoever is refused.
package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrHeld means another controller holds the lock.
var ErrHeld = errors.New("fleet lock held")

// Holder describes who holds a lock.
type Holder struct {
	App      string    `json:"app"`
	DeployID string    `json:"deploy_id"`
	PID      int       `json:"pid"`
	User     string    `json:"user"`
	Host     string    `json:"host"`
	Command  string    `json:"command"`
	Since    time.Time `json:"since"`
}

func (h Holder) String() string {
	return fmt.Sprintf("%s (deploy %s) by %s@%s pid %d since %s", h.Command, h.DeployID, h.User, h.Host, h.PID, h.Since.UTC().Format(time.RFC3339))
}

// Acquire takes the lock of h.App in dir. With wait 0 it fails at once,
// naming the holder; otherwise it retries until wait has passed.
func Acquire(ctx context.Context, dir string, h Holder, wait time.Duration) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the lock directory: %w", err)
	}
	path := filepath.Join(dir, h.App+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the fleet lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("cannot lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			holder := readHolder(path)
			f.Close()
			if wait > 0 {
				return nil, fmt.Errorf("%w: waited %s; %s is still being changed by %s", ErrHeld, wait, h.App, holder)
			}
			return nil, fmt.Errorf("%w: %s is being changed by %s; wait for it, or pass --lock-wait 5m to queue behind it", ErrHeld, h.App, holder)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(b, 0)
		_ = f.Sync()
	}
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func readHolder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return "another labcontroller (no details recorded yet)"
	}
	var h Holder
	if json.Unmarshal(b, &h) != nil {
		return "another labcontroller"
	}
	return h.String()
}

// DefaultDir is where the controller keeps its state: $LABFLEET_STATE_DIR,
// else /var/lib/labfleet when writable (root on the control server), else
// the user's state directory.
func DefaultDir() string {
	if d := os.Getenv("LABFLEET_STATE_DIR"); d != "" {
		return d
	}
	if err := os.MkdirAll("/var/lib/labfleet", 0o700); err == nil {
		if f, err := os.CreateTemp("/var/lib/labfleet", ".probe-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/var/lib/labfleet"
		}
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "labfleet")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state", "labfleet")
}
