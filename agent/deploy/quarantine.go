package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labfleet/labfleet/internal/deployid"
)

// StateError says that one app's deploy state cannot be trusted: its
// journal or history file could not be read back. The file is renamed to
// <file>.corrupt-<time> (quarantined) and the app is blocked, for deploys,
// rollbacks, repairs and its own history, until an operator repairs it and
// deletes the quarantined copy; other apps are not affected. It matches
// ErrCorruptState, which the service answers as FailedPrecondition.
type StateError struct {
	App string
	// File is the quarantined copy, or the file itself when it could not
	// be renamed (InPlace; e.g. on a read-only state dir).
	File    string
	InPlace bool
	// Kind is "journal" or "history".
	Kind string
	// Cause is why the file was found corrupt; empty when the app was
	// found already blocked by an earlier quarantine.
	Cause string
	// Repair says what the operator has to do.
	Repair string
}

func (e *StateError) Error() string {
	what := fmt.Sprintf("the deploy %s of app %s", e.Kind, e.App)
	switch {
	case e.InPlace:
		return fmt.Sprintf("%s: %s, %s, is corrupt (%s) and could not be moved aside; %s", ErrCorruptState, what, e.File, e.Cause, e.Repair)
	case e.Cause != "":
		return fmt.Sprintf("%s: %s is corrupt (%s) and was quarantined as %s; %s", ErrCorruptState, what, e.Cause, e.File, e.Repair)
	}
	return fmt.Sprintf("%s: app %s is blocked: %s was found corrupt and quarantined as %s; %s", ErrCorruptState, e.App, what, e.File, e.Repair)
}

// Unwrap makes errors.Is(err, ErrCorruptState) true.
func (e *StateError) Unwrap() error { return ErrCorruptState }

const (
	kindJournal = "journal"
	kindHistory = "history"
)

// quarantineMark separates a state file's name from its quarantine time.
const quarantineMark = ".corrupt-"

func repairText(app, kind, quarantined, orig string) string {
	if kind == kindJournal {
		return fmt.Sprintf("its last deploy may be unfinished: check which of its containers runs "+
			"(labcontroller status --app %s; docker ps -a --filter label=%s=%s), make sure it is the version you want, "+
			"then delete %s to unblock %s", app, LabelApp, app, quarantined, app)
	}
	return fmt.Sprintf("copy the lines you want to keep (one JSON result per line) into %s, "+
		"then delete %s to unblock %s (until then its deploy ids cannot be checked for re-sends)", orig, quarantined, app)
}

// quarantine renames a corrupt state file of app out of the way and
// returns the *StateError that blocks app from now on.
func (s *Store) quarantine(app, path, kind string, cause error) error {
	q := path + quarantineMark + time.Now().UTC().Format(deployid.Layout)
	for i := 2; ; i++ {
		if _, err := os.Lstat(q); errors.Is(err, fs.ErrNotExist) {
			break
		}
		q = fmt.Sprintf("%s%s%s-%d", path, quarantineMark, time.Now().UTC().Format(deployid.Layout), i)
	}
	err := s.canWrite(path)
	if err == nil {
		err = os.Rename(path, q)
	}
	if err != nil {
		// Left in place (e.g. a read-only state dir), it blocks the app
		// all the same: it is found corrupt again at every read.
		s.blocked[app] = nil
		return &StateError{App: app, File: path, InPlace: true, Kind: kind, Cause: cause.Error(),
			Repair: fmt.Sprintf("repair or delete it (%v) to unblock %s", err, app)}
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	se := &StateError{App: app, File: q, Kind: kind, Cause: cause.Error(), Repair: repairText(app, kind, q, path)}
	s.blocked[app] = se
	return se
}

// Check returns a *StateError when app is blocked by a quarantined state
// file, and nil otherwise. The first check after an operator removed the
// quarantined files reads the app's history again, for replays.
func (s *Store) Check(app string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkLocked(app)
}

func (s *Store) checkLocked(app string) error {
	for _, c := range []struct{ kind, dir, name string }{
		{kindJournal, "journal", app + ".json"},
		{kindHistory, "history", app + ".jsonl"},
	} {
		ents, err := os.ReadDir(filepath.Join(s.dir, c.dir))
		if err != nil {
			return fmt.Errorf("cannot list %s: %w", c.dir, err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), c.name+quarantineMark) {
				q := filepath.Join(s.dir, c.dir, e.Name())
				if se := s.blocked[app]; se != nil && se.File == q {
					return se
				}
				s.blocked[app] = nil
				return &StateError{App: app, File: q, Kind: c.kind, Repair: repairText(app, c.kind, q, filepath.Join(s.dir, c.dir, c.name))}
			}
		}
	}
	if _, was := s.blocked[app]; was {
		// Repaired: learn the deploy ids the operator kept.
		rs, err := s.readHistory(app)
		if err != nil {
			return err
		}
		for _, r := range rs {
			s.ids[r.DeployID] = r
		}
		delete(s.blocked, app)
	}
	return nil
}
