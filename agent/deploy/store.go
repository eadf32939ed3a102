package deploy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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
// A torn last line of a history file (a crash mid-append) is ignored.
type Store struct {
	dir string
	mu  sync.Mutex
	key []byte
	ids map[string]Result // finished deploy ids, for idempotent replays
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
	s := &Store{dir: dir, ids: map[string]Result{}}
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
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			s.ids[r.DeployID] = r
		}
	}
	return s, nil
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

// Record appends a finished result to the app's history.
func (s *Store) Record(r Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "history", r.App+".jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cannot record history: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("cannot record history: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot record history: %w", err)
	}
	s.ids[r.DeployID] = r
	return nil
}

// Finished returns the recorded result of a deploy id.
func (s *Store) Finished(id string) (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.ids[id]
	return r, ok
}

func (s *Store) readHistory(app string) ([]Result, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "history", app+".jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read history of %s: %w", app, err)
	}
	var out []Result
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r Result
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.DeployID != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// History returns up to limit results, newest first, for one app or all.
func (s *Store) History(app string, limit int) ([]Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	apps := []string{app}
	if app == "" {
		var err error
		if apps, err = s.apps(); err != nil {
			return nil, err
		}
	}
	var all []Result
	for _, a := range apps {
		rs, err := s.readHistory(a)
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].FinishedAt.After(all[j].FinishedAt) })
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// SaveJournal writes the in-flight record atomically.
func (s *Store) SaveJournal(j Journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.dir, "journal", j.App+".json"), b)
}

// DropJournal removes an app's in-flight record.
func (s *Store) DropJournal(app string) error {
	err := os.Remove(filepath.Join(s.dir, "journal", app+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Journals returns every in-flight record (deploys the agent did not finish).
func (s *Store) Journals() ([]Journal, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "journal"))
	if err != nil {
		return nil, fmt.Errorf("cannot list journals: %w", err)
	}
	var out []Journal
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, "journal", e.Name()))
		if err != nil {
			return nil, err
		}
		var j Journal
		if err := json.Unmarshal(b, &j); err != nil {
			// A journal is written atomically, so a bad one was not ours.
			return nil, fmt.Errorf("corrupt journal %s: %w", e.Name(), err)
		}
		out = append(out, j)
	}
	return out, nil
}

// SetCurrent records the app's current container.
func (s *Store) SetCurrent(app string, c Current) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.dir, "current", app+".json"), b)
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
