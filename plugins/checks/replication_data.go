//go:build !labfleet_lean

package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/labfleet/labfleet/internal/gtid"
	"github.com/labfleet/labfleet/internal/mariadb"
	"github.com/labfleet/labfleet/plugins/pluginkit"
)

// dataLockWait bounds how long one table's checksum waits for a lock: a
// plugin must finish within its -t.
const dataLockWait = 2 * time.Second

// checksums runs CHECKSUM TABLE over the server's own databases on the
// run's one login (see internal/mariadb.Checksum).
func checksums(ctx context.Context, s *session, addr string) (*mariadb.Checksums, error) {
	return mariadb.ChecksumConn(ctx, s.conn, addr, nil, dataLockWait)
}

// settled reports whether both snapshots were taken at the same point of
// the replicated history: neither binlog moved while its tables were
// checksummed, and both have every domain but the legacy ones at the
// same sequence number. Otherwise a difference may be a row in flight.
func settled(replica, master *mariadb.Checksums, legacy []uint32) (bool, string) {
	if replica.Before != replica.After || master.Before != master.After {
		return false, "a binlog moved while its tables were checksummed"
	}
	a, errA := gtid.Parse(replica.After)
	b, errB := gtid.Parse(master.After)
	if errA != nil || errB != nil {
		return false, "unreadable gtid_binlog_pos"
	}
	for _, d := range append(a.Domains(), b.Domains()...) {
		if !slices.Contains(legacy, d) && a.Seq(d) != b.Seq(d) {
			return false, fmt.Sprintf("domain %d is at %d here and %d on the master", d, a.Seq(d), b.Seq(d))
		}
	}
	return true, ""
}

// compareData is --check-data: CRITICAL naming every table whose rows or
// checksum differ from the master's, or that only one side has. A table
// that could not be checksummed (locked, no SELECT) is UNKNOWN; a
// snapshot taken while replication was busy is not compared (said in the
// long text), since the next run will be.
func (c *replicationCheck) compareData(r *pluginkit.Result, addr string, replica, master *mariadb.Checksums, masterAddr string) {
	for _, side := range []struct {
		name string
		s    *mariadb.Checksums
	}{{addr, replica}, {masterAddr, master}} {
		for _, t := range side.s.Tables {
			if t.Err != "" {
				r.Unknown("--check-data: %s on %s: %s", t.Name(), side.name, t.Err)
				return
			}
		}
	}
	if ok, why := settled(replica, master, c.legacy); !ok {
		r.Long("data not compared with the master %s: replication was busy (%s); the next run compares it", masterAddr, why)
		return
	}
	type sum struct{ rows, checksum uint64 }
	sums := func(s *mariadb.Checksums) map[string]sum {
		m := map[string]sum{}
		for _, t := range s.Tables {
			m[t.Name()] = sum{t.Rows, t.Checksum}
		}
		return m
	}
	here, there := sums(replica), sums(master)
	var names []string
	for n := range here {
		names = append(names, n)
	}
	for n := range there {
		if _, ok := here[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var differ []string
	for _, n := range names {
		h, okH := here[n]
		m, okM := there[n]
		switch {
		case !okH:
			differ = append(differ, n+" (missing here)")
		case !okM:
			differ = append(differ, n+" (missing on the master)")
		case h != m:
			differ = append(differ, fmt.Sprintf("%s (%d rows, checksum %d here; %d rows, checksum %d on the master)", n, h.rows, h.checksum, m.rows, m.checksum))
		}
	}
	r.Perf(pluginkit.Perf{Label: "tables_differing", Value: float64(len(differ)), Crit: &pluginkit.Range{}, Min: pluginkit.F(0)})
	if len(differ) > 0 {
		r.Critical("data differs from the master %s: %s", masterAddr, strings.Join(differ, ", "))
		return
	}
	r.Long("data: %d tables identical to the master %s's", len(names), masterAddr)
}
