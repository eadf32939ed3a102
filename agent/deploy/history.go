package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Record appends a finished result to the app's history and fsyncs it. A
// result that cannot be recorded (state dir full or read-only) is kept in
// memory as pending: Finished still replays it, and the repair loop
// records it once the state dir takes writes again.
func (s *Store) Record(r Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.appendHistory(r); err != nil {
		s.pending[r.DeployID] = r
		return err
	}
	delete(s.pending, r.DeployID)
	s.ids[r.DeployID] = r
	return nil
}

// appendHistory writes r as one line. A torn tail left by a crash is cut
// off first, and a write that fails half-way is cut off again, so a line
// never runs into the next one (which would hide both).
func (s *Store) appendHistory(r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("cannot record history: %w", err)
	}
	if err := s.canWrite(s.historyPath(r.App)); err != nil {
		return fmt.Errorf("cannot record history: %w", err)
	}
	f, err := os.OpenFile(s.historyPath(r.App), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("cannot record history: %w", err)
	}
	defer f.Close()
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("cannot record history: %w", err)
	}
	at, err := lastLineEnd(f, end)
	if err == nil && at < end {
		err = f.Truncate(at)
	}
	if err != nil {
		return fmt.Errorf("cannot record history: %w", err)
	}
	if _, err = f.WriteAt(append(b, '\n'), at); err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Truncate(at)
		return fmt.Errorf("cannot record history: %w", err)
	}
	return nil
}

// lastLineEnd returns the offset just after the last newline before end (0
// when there is none): where the next line goes.
func lastLineEnd(f *os.File, end int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for pos := end; pos > 0; {
		n := min(int64(len(buf)), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i) + 1, nil
		}
	}
	return 0, nil
}

// Finished returns the result of a deploy id: recorded, or reported but
// still pending.
func (s *Store) Finished(id string) (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.ids[id]; ok {
		return r, true
	}
	r, ok := s.pending[id]
	return r, ok
}

// recorded reports whether id's result is in the history on disk.
func (s *Store) recorded(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

// Pending returns the results that could not be recorded yet.
func (s *Store) Pending() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Result, 0, len(s.pending))
	for _, r := range s.pending {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FinishedAt.Before(out[j].FinishedAt) })
	return out
}

func (s *Store) pendingResult(id string) (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.pending[id]
	return r, ok
}

func (s *Store) historyPath(app string) string {
	return filepath.Join(s.dir, "history", app+".jsonl")
}

// readHistory reads app's history. A file that cannot be parsed is
// quarantined and answered with a *StateError. The caller holds s.mu or
// owns s.
func (s *Store) readHistory(app string) ([]Result, error) {
	path := s.historyPath(app)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read history of %s: %w", app, err)
	}
	rs, err := parseHistory(b)
	if err != nil {
		return nil, s.quarantine(app, path, kindHistory, err)
	}
	return rs, nil
}

// parseHistory reads a history file's contents: one JSON Result per line,
// of any length. A last line without its newline is a torn append (the
// crash or failed write that left it also failed its deploy's report) and
// is ignored, as are empty lines; any other line that is not a result makes
// the whole file corrupt.
func parseHistory(b []byte) ([]Result, error) {
	var out []Result
	for n := 1; len(b) > 0; n++ {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		line := b[:i]
		b = b[i+1:]
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Result
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if r.DeployID == "" {
			return nil, fmt.Errorf("line %d: no deploy id", n)
		}
		out = append(out, r)
	}
	return out, nil
}

// History returns up to limit results, newest first, for one app or all.
// A blocked app (see StateError) answers its error when asked for alone
// and is left out of the list of all apps.
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
		if err := s.checkLocked(a); err != nil {
			if app == "" {
				continue
			}
			return nil, err
		}
		rs, err := s.readHistory(a)
		if errors.Is(err, ErrCorruptState) && app == "" {
			continue
		}
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
