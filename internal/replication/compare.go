package replication

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// TableDiff is one table whose copies differ between nodes.
type TableDiff struct {
	Table string `json:"table"` // db.table
	// Nodes holds, per node, "N rows, checksum C", "missing" or the error.
	Nodes map[string]string `json:"nodes"`
}

func (d TableDiff) String() string {
	names := make([]string, 0, len(d.Nodes))
	for n := range d.Nodes {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + d.Nodes[n]
	}
	return d.Table + ": " + strings.Join(parts, "; ")
}

// Snapshot is every member's checksums, taken one member after another.
type Snapshot struct {
	Sums []*agentv1.ChecksumTablesResponse
	// Tables is how many distinct tables were compared.
	Tables int
	Diffs  []TableDiff
	// Errors are tables that could not be checksummed (locked, no privilege).
	Errors []string
}

// checksumAll asks every member for its checksums; a member that cannot
// answer fails the call, naming it.
func checksumAll(ctx context.Context, members []Member, lockWait time.Duration) (*Snapshot, error) {
	snap := &Snapshot{Sums: make([]*agentv1.ChecksumTablesResponse, len(members))}
	if lockWait <= 0 {
		lockWait = 10 * time.Second
	}
	for i, m := range members {
		// Generous: every table of the member, each allowed lockWait.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		resp, err := m.Agent.ChecksumTables(cctx, &agentv1.ChecksumTablesRequest{LockWait: durationpb.New(lockWait)})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: cannot checksum its tables: %w", m.Name, err)
		}
		snap.Sums[i] = resp
	}
	snap.compare(members)
	return snap, nil
}

// compare fills Diffs and Errors: a table differs when a node lacks it or
// its row count or checksum differs from another node's.
func (s *Snapshot) compare(members []Member) {
	type copyOf struct{ desc, err string }
	tables := map[string][]copyOf{}
	var names []string
	for i, r := range s.Sums {
		for _, t := range r.GetTables() {
			name := t.GetDatabase() + "." + t.GetTable()
			if _, ok := tables[name]; !ok {
				tables[name] = make([]copyOf, len(members))
				names = append(names, name)
			}
			c := copyOf{desc: fmt.Sprintf("%d rows, checksum %d", t.GetRows(), t.GetChecksum())}
			if t.GetError() != "" {
				c = copyOf{err: t.GetError()}
			}
			tables[name][i] = c
		}
	}
	slices.Sort(names)
	s.Tables = len(names)
	for _, name := range names {
		copies := tables[name]
		d := TableDiff{Table: name, Nodes: map[string]string{}}
		differ, failed, first := false, false, ""
		for i, c := range copies {
			switch {
			case c.err != "":
				failed = true
				s.Errors = append(s.Errors, fmt.Sprintf("%s: %s: %s", members[i].Name, name, c.err))
			case c.desc == "":
				d.Nodes[members[i].Name] = "missing"
				differ = true
			default:
				d.Nodes[members[i].Name] = c.desc
				if first == "" {
					first = c.desc
				}
				differ = differ || c.desc != first
			}
		}
		if differ && !failed {
			s.Diffs = append(s.Diffs, d)
		}
	}
}

// stable reports whether no member's binlog moved during its checksums.
func (s *Snapshot) stable() bool {
	for _, r := range s.Sums {
		if r.GetGtidBinlogPosBefore() != r.GetGtidBinlogPosAfter() {
			return false
		}
	}
	return true
}

// provenIdentical is --start-at current's guard: the members' own
// databases must be identical, checksummed while nothing is written. A
// member being written is retried a few times.
func provenIdentical(ctx context.Context, members []Member, o Options) error {
	var snap *Snapshot
	for attempt := 1; ; attempt++ {
		var err error
		if snap, err = checksumAll(ctx, members, o.LockWait); err != nil {
			return fmt.Errorf("%w: --start-at current needs every node's checksums: %v", ErrPreflight, err)
		}
		if snap.stable() || attempt == 3 {
			break
		}
		time.Sleep(time.Second)
	}
	var problems []string
	for _, e := range snap.Errors {
		problems = append(problems, "cannot checksum "+e)
	}
	for _, d := range snap.Diffs {
		problems = append(problems, "differs: "+d.String())
	}
	if !snap.stable() {
		for i, r := range snap.Sums {
			if r.GetGtidBinlogPosBefore() != r.GetGtidBinlogPosAfter() {
				problems = append(problems, fmt.Sprintf("%s was written while its tables were checksummed (gtid_binlog_pos %q -> %q): stop writes to it during setup, or seed the others from it with --seed-from %s",
					members[i].Name, r.GetGtidBinlogPosBefore(), r.GetGtidBinlogPosAfter(), members[i].Name))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: --start-at current skips history only where the data is identical, and it is not:\n  %s\n  make the data identical (or load one node's data into the others with --seed-from NODE) and re-run",
			ErrPreflight, strings.Join(problems, "\n  "))
	}
	for i, r := range snap.Sums {
		o.Out(members[i].Name, fmt.Sprintf("preflight: %d tables in %s identical on every node at gtid_binlog_pos %q",
			snap.Tables, orNone(r.GetDatabases()), r.GetGtidBinlogPosAfter()))
	}
	return nil
}

func orNone(dbs []string) string {
	if len(dbs) == 0 {
		return "(no databases of its own)"
	}
	return strings.Join(dbs, ", ")
}
