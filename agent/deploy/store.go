package deploy

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Store keeps the engine's state under one directory, crash-safely:
//
//	history/<app>.jsonl   one Result per line, appended and fsynced
//	journal/<app>.json    the deploy in flight, written atomically before each risky step
//	current/<app>.json    which container is the app's current one
//	key                   random key for spec hashes (so hashes of secrets reveal nothing)
//
// A torn last line of a history file (a crash mid-append) is ignored. A
// journal or history file that cannot be read back any other way is
// quarantined and blocks its app only (see StateError).
type Store struct {
	dir string
	mu  sync.Mutex
	key []byte
	ids map[string]Result // finished deploy ids, for idempotent replays
	// pending holds results that could not be recorded (state dir full or
	// read-only): replays return them and the repair loop records them
	// once it can.
	pending map[string]Result
	// blocked: apps found with a quarantined state file, so their history
	// is read again once an operator has repaired them; the error says why
	// when this process quarantined the file (nil when it found it so).
	blocked map[string]*StateError
	// found: what OpenStore quarantined, for the first Reconcile to report.
	found []error
	// writeFault, when set, is asked before every write under dir and its
	// error returned as the write's: the unit tests' read-only or full
	// state dir (e2e/ tests the real ones on a tmpfs). Nil in the agent.
	writeFault func(path string) error
}

// canWrite returns the injected fault for a write to path, if any.
func (s *Store) canWrite(path string) error {
	if s.writeFault == nil {
		return nil
	}
	return s.writeFault(path)
}

// Journal is what a deploy in flight has done so far.
type Journal struct {
	DeployID     string    `json:"deploy_id"`
	Kind         Kind      `json:"kind"`
	App          string    `json:"app"`
	Version      string    `json:"version"`
	Image        string    `json:"image"`
	Caller       string    `json:"caller"`
	StartedAt    time.Time `json:"started_at"`
	OldContainer string    `json:"old_container,omitempty"`
	OldVersion   string    `json:"old_version,omitempty"`
	OldRunning   bool      `json:"old_running,omitempty"`
	NewContainer string    `json:"new_container,omitempty"`
	// NewIsRetained: the new container is a retained one (rollback): on
	// failure it is stopped, not removed.
	NewIsRetained bool `json:"new_is_retained,omitempty"`
	// Committed: the new container passed its health gate.
	Committed bool `json:"committed,omitempty"`
	// RequestHash is the request's keyed hash (Result.RequestHash).
	RequestHash string `json:"request_hash,omitempty"`
}

// Current names the app's current container.
type Current struct {
	ContainerID string `json:"container_id"`
	Version     string `json:"version"`
	DeployID    string `json:"deploy_id"`
}

// OpenStore opens (creating) the state directory.
func OpenStore(dir string) (*Store, error) {
	for _, sub := range []string{"history", "journal", "current"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("cannot create state dir: %w", err)
		}
	}
	s := &Store{dir: dir, ids: map[string]Result{}, pending: map[string]Result{}, blocked: map[string]*StateError{}}
	key, err := os.ReadFile(filepath.Join(dir, "key"))
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		if err := writeAtomic(filepath.Join(dir, "key"), key); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("cannot read state key: %w", err)
	}
	s.key = key
	apps, err := s.apps()
	if err != nil {
		return nil, err
	}
	for _, app := range apps {
		rs, err := s.readHistory(app)
		if errors.Is(err, ErrCorruptState) {
			// Quarantined: the app is blocked, the others go on.
			s.found = append(s.found, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			s.ids[r.DeployID] = r
		}
	}
	return s, nil
}

// takeFound returns (once) the errors of the files OpenStore quarantined.
func (s *Store) takeFound() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.found
	s.found = nil
	return f
}

// Key is the secret used for spec hashes.
func (s *Store) Key() []byte { return s.key }

func (s *Store) apps() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "history"))
	if err != nil {
		return nil, fmt.Errorf("cannot list history: %w", err)
	}
	var apps []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".jsonl"); ok {
			apps = append(apps, n)
		}
	}
	return apps, nil
}

// SaveJournal writes the in-flight record atomically.
func (s *Store) SaveJournal(j Journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := s.canWrite(s.journalPath(j.App)); err != nil {
		return fmt.Errorf("cannot write %s: %w", s.journalPath(j.App), err)
	}
	return writeAtomic(s.journalPath(j.App), b)
}

// DropJournal removes an app's in-flight record.
func (s *Store) DropJournal(app string) error {
	err := s.canWrite(s.journalPath(app))
	if err == nil {
		err = os.Remove(s.journalPath(app))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Journal returns app's in-flight record, if any. A journal that cannot be
// read back is quarantined and answered with a *StateError.
func (s *Store) Journal(app string) (Journal, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := s.journalPath(app)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Journal{}, false, nil
	}
	if err != nil {
		return Journal{}, false, fmt.Errorf("cannot read the deploy journal of %s: %w", app, err)
	}
	j, err := parseJournal(b)
	if err == nil && j.App != app {
		err = fmt.Errorf("it is for app %q", j.App)
	}
	if err != nil {
		// A journal is written atomically, so a bad one was not written
		// whole by this agent: nothing in it can be trusted.
		return Journal{}, false, s.quarantine(app, path, kindJournal, err)
	}
	return j, true, nil
}

// Journals returns every readable in-flight record (deploys the agent did
// not finish). Corrupt ones are quarantined and reported in err, joined,
// without hiding the others.
func (s *Store) Journals() ([]Journal, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "journal"))
	if err != nil {
		return nil, fmt.Errorf("cannot list journals: %w", err)
	}
	var out []Journal
	var errs []error
	for _, e := range ents {
		app, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		j, ok, err := s.Journal(app)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			out = append(out, j)
		}
	}
	return out, errors.Join(errs...)
}

// parseJournal reads a journal file's contents.
func parseJournal(b []byte) (Journal, error) {
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return Journal{}, err
	}
	if j.DeployID == "" || j.App == "" {
		return Journal{}, errors.New("it names no deploy id or app")
	}
	return j, nil
}

func (s *Store) journalPath(app string) string {
	return filepath.Join(s.dir, "journal", app+".json")
}

// SetCurrent records the app's current container.
func (s *Store) SetCurrent(app string, c Current) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, "current", app+".json")
	if err := s.canWrite(path); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return writeAtomic(path, b)
}

// GetCurrent returns the app's recorded current container.
func (s *Store) GetCurrent(app string) (Current, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, "current", app+".json"))
	if err != nil {
		return Current{}, false
	}
	var c Current
	if json.Unmarshal(b, &c) != nil {
		return Current{}, false
	}
	return c, true
}

// writeAtomic writes via a temp file, fsync and rename, so a reader never
// sees half a file and a crash leaves the old or the new one.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
