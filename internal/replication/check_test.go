package replication

import (
	"strings"
	"testing"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func withDomain(r *agentv1.GetReplicationStatusResponse, d uint32) *agentv1.GetReplicationStatusResponse {
	r.Server.GtidDomainId = d
	return r
}

func TestErrantAndLag(t *testing.T) {
	m := names(2)
	st := []*agentv1.GetReplicationStatusResponse{
		withDomain(server(1, "1-1-10,1-2-11,2-2-5", "1-2-11,2-2-3", "node2"), 1),
		withDomain(server(2, "1-1-10,1-2-11,2-2-5", "1-2-11", "node1"), 2),
	}
	e := errant(m, st)
	if len(e) != 1 || !strings.Contains(e[0], "node2 wrote 1-2-11 in domain 1, which is node1's") {
		t.Fatalf("errant %v", e)
	}
	l := lag(m, st)
	if len(l) != 2 || l[0].Node != "node1" || l[0].Transactions != 2 || l[1].Transactions != 0 {
		t.Fatalf("lag %+v: node1 lacks 2-2-4..5 of node2's domain", l)
	}
	if caughtUp(l) {
		t.Error("caughtUp with a lagging connection")
	}
	// Before setup both are in domain 0: no owner, nothing errant.
	st = []*agentv1.GetReplicationStatusResponse{server(1, "0-1-21", ""), server(2, "0-2-21", "")}
	if e := errant(m, st); len(e) != 0 {
		t.Errorf("errant before setup: %v", e)
	}
}

func TestSnapshotCompare(t *testing.T) {
	sum := func(db, tbl string, rows, ck uint64, err string) *agentv1.TableChecksum {
		return &agentv1.TableChecksum{Database: db, Table: tbl, Rows: rows, Checksum: ck, Error: err}
	}
	s := &Snapshot{Sums: []*agentv1.ChecksumTablesResponse{
		{Tables: []*agentv1.TableChecksum{sum("app", "a", 5, 1, ""), sum("app", "b", 2, 7, ""), sum("app", "c", 1, 1, ""), sum("app", "locked", 0, 0, "locked by another session")}},
		{Tables: []*agentv1.TableChecksum{sum("app", "a", 5, 1, ""), sum("app", "b", 2, 8, ""), sum("app", "locked", 3, 3, "")}},
	}}
	s.compare(names(2))
	if s.Tables != 4 || len(s.Diffs) != 2 || len(s.Errors) != 1 {
		t.Fatalf("tables %d, diffs %+v, errors %v", s.Tables, s.Diffs, s.Errors)
	}
	if got := s.Diffs[0].String(); got != "app.b: node1 2 rows, checksum 7; node2 2 rows, checksum 8" {
		t.Errorf("diff %q", got)
	}
	if got := s.Diffs[1].String(); got != "app.c: node1 1 rows, checksum 1; node2 missing" {
		t.Errorf("diff %q", got)
	}
	if !strings.Contains(s.Errors[0], "node1: app.locked: locked") {
		t.Errorf("error %q", s.Errors[0])
	}
}
