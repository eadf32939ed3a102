package replication

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/labfleet/labfleet/internal/gtid"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Lag is how far one connection is behind its master.
type Lag struct {
	Node       string `json:"node"`
	Connection string `json:"connection"`
	// Transactions of the master's own domain this node has not applied.
	Transactions uint64 `json:"transactions"`
	Seconds      *int64 `json:"seconds_behind_master,omitempty"`
	Running      bool   `json:"running"`
}

// CheckReport is `replication check`'s finding; it changes nothing.
type CheckReport struct {
	Nodes  []string    `json:"nodes"`
	Tables int         `json:"tables_compared"`
	Diffs  []TableDiff `json:"differing_tables"`
	// Unreadable are tables that could not be checksummed, with why.
	Unreadable []string `json:"unreadable_tables"`
	Errant     []string `json:"errant_transactions"`
	Lag        []Lag    `json:"lag"`
	// Settled: the checksums were taken with no write in flight (no binlog
	// moved, every node had applied every domain); otherwise a difference
	// may be one still replicating.
	Settled bool `json:"settled"`
}

// Consistent reports whether the data and the histories agree.
func (r *CheckReport) Consistent() bool { return len(r.Diffs) == 0 && len(r.Errant) == 0 }

// CheckOptions tune Check.
type CheckOptions struct {
	// Attempts at a settled snapshot while replication is busy (default 5).
	Attempts int
	LockWait time.Duration
}

// Check compares the members' data (CHECKSUM TABLE of their own
// databases) and GTID histories, and reports each connection's lag in
// transactions. It retries while writes are in flight, so a row on its
// way is not reported as a difference.
func Check(ctx context.Context, members []Member, o CheckOptions) (*CheckReport, error) {
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	rep := &CheckReport{}
	for _, m := range members {
		rep.Nodes = append(rep.Nodes, m.Name)
	}
	for attempt := 1; ; attempt++ {
		snap, err := checksumAll(ctx, members, o.LockWait)
		if err != nil {
			return nil, err
		}
		st, err := statuses(ctx, members)
		if err != nil {
			return nil, err
		}
		rep.Tables, rep.Diffs, rep.Unreadable = snap.Tables, snap.Diffs, snap.Errors
		rep.Errant, rep.Lag = errant(members, st), lag(members, st)
		rep.Settled = snap.stable() && caughtUp(rep.Lag)
		if rep.Settled || len(rep.Diffs) == 0 || attempt >= o.Attempts {
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func statuses(ctx context.Context, members []Member) ([]*agentv1.GetReplicationStatusResponse, error) {
	out := make([]*agentv1.GetReplicationStatusResponse, len(members))
	for i, m := range members {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := m.Agent.GetReplicationStatus(cctx, &agentv1.GetReplicationStatusRequest{})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		out[i] = st
	}
	return out, nil
}

func caughtUp(lags []Lag) bool {
	for _, l := range lags {
		if l.Transactions > 0 {
			return false
		}
	}
	return true
}

// errant finds transactions a node wrote in a domain another node owns
// (its gtid_domain_id), and nodes ahead of a domain's owner in it.
func errant(members []Member, st []*agentv1.GetReplicationStatusResponse) []string {
	// A domain two nodes share (before setup, every node's is 0) has no owner.
	owner, shared := map[uint32]int{}, map[uint32]bool{}
	for i, s := range st {
		d := s.GetServer().GetGtidDomainId()
		if _, ok := owner[d]; ok {
			shared[d] = true
		}
		owner[d] = i
	}
	for d := range shared {
		delete(owner, d)
	}
	var out []string
	for i, s := range st {
		f := s.GetServer()
		state, _ := gtid.Parse(f.GetGtidBinlogState())
		pos, _ := gtid.Parse(f.GetGtidBinlogPos())
		for _, g := range state {
			if o, ok := owner[g.Domain]; ok && o != i && g.Server == f.GetServerId() {
				out = append(out, fmt.Sprintf("%s wrote %s in domain %d, which is %s's (gtid_domain_id %d); the others apply it, but %s never wrote it",
					members[i].Name, g, g.Domain, members[o].Name, g.Domain, members[o].Name))
			}
		}
		for d, o := range owner {
			if o == i {
				continue
			}
			ownerPos, _ := gtid.Parse(st[o].GetServer().GetGtidBinlogPos())
			if have, want := pos.Seq(d), ownerPos.Seq(d); have > want {
				g, _ := pos.Last(d)
				out = append(out, fmt.Sprintf("%s is ahead of %s in %s's domain %d (%s, the owner has seq %d)", members[i].Name, members[o].Name, members[o].Name, d, g, want))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// lag is, per connection, the master's own-domain transactions the node
// has not applied (its gtid_slave_pos against the master's binlog).
func lag(members []Member, st []*agentv1.GetReplicationStatusResponse) []Lag {
	byName := map[string]int{}
	for i, m := range members {
		byName[m.Name] = i
	}
	var out []Lag
	for i, s := range st {
		slave, _ := gtid.Parse(s.GetServer().GetGtidSlavePos())
		for _, c := range s.GetConnections() {
			l := Lag{Node: members[i].Name, Connection: c.GetConnectionName(), Seconds: c.SecondsBehindMaster,
				Running: c.GetIoRunning() == "Yes" && c.GetSqlRunning() == "Yes"}
			if j, ok := byName[c.GetConnectionName()]; ok {
				mf := st[j].GetServer()
				mpos, _ := gtid.Parse(mf.GetGtidBinlogPos())
				l.Transactions = gtid.Behind(slave, mpos, mf.GetGtidDomainId())
			}
			out = append(out, l)
		}
	}
	return out
}
