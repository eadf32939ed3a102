package replication

import (
	"fmt"
	"slices"
	"strings"

	"github.com/labfleet/labfleet/internal/gtid"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// StartAtCurrent is Options.StartAt's value that starts every new
// connection at its peer's current position, as the lab's manual
// procedure did with SHOW MASTER STATUS.
const StartAtCurrent = "current"

// Situation is what starting one connection would do.
type Situation int

// Situations, from harmless to refused.
const (
	// Fresh: the peer has no history the receiver lacks.
	Fresh Situation = iota
	// Replicating: the connection exists; it resumes where it stopped.
	Replicating
	// Behind: the receiver has applied part of each of the peer's domains
	// and will apply the rest, as any replica catching up.
	Behind
	// Unapplied: the peer has history in domains the receiver never
	// applied; starting would replay it (its accounts, its databases),
	// which fails or duplicates data.
	Unapplied
)

var situationNames = map[Situation]string{Fresh: "fresh", Replicating: "replicating", Behind: "behind", Unapplied: "unapplied history"}

func (s Situation) String() string { return situationNames[s] }

// Pair is one connection of the set: Receiver replicates from Peer.
type Pair struct {
	Receiver, Peer int // indexes into the members
	Situation      Situation
	// Missing is what the receiver would replay: for Unapplied, the
	// domains it never applied; for Behind, what it has yet to apply.
	Missing []gtid.Range
}

// Conflict is a domain written on more than one node: before setup every
// server writes domain 0, so two servers' histories cannot both be
// replayed on each other.
type Conflict struct {
	Domain  uint32
	Writers []string // "node1 (server_id 1)"
}

// History is what preflight learnt about the set's GTID histories.
type History struct {
	Pairs     []Pair
	Conflicts []Conflict
	// Errant are transactions written in a domain another node owns.
	Errant []string
	// Owned maps each domain setup assigns to its member index.
	Owned map[uint32]int
}

// sources lists the members member i replicates from in mode.
func sources(mode string, n, i int) []int {
	var out []int
	for j := 0; j < n; j++ {
		if j == i || (mode == PrimaryReplica && (i == 0 || j != 0)) {
			continue
		}
		out = append(out, j)
	}
	return out
}

// classify compares every receiver's applied position with every peer's
// binlog. Domains setup assigns are 1..n in member order.
func classify(members []Member, st []*agentv1.GetReplicationStatusResponse, mode string) History {
	h := History{Owned: map[uint32]int{}}
	for i := range members {
		h.Owned[uint32(i+1)] = i
	}
	state := make([]gtid.List, len(members))
	pos := make([]gtid.List, len(members))
	slave := make([]gtid.List, len(members))
	for i, s := range st {
		f := s.GetServer()
		state[i], _ = gtid.Parse(f.GetGtidBinlogState())
		pos[i], _ = gtid.Parse(f.GetGtidBinlogPos())
		slave[i], _ = gtid.Parse(f.GetGtidSlavePos())
	}
	for i := range members {
		own := st[i].GetServer().GetServerId()
		for _, j := range sources(mode, len(members), i) {
			p := Pair{Receiver: i, Peer: j, Situation: Fresh}
			if slices.ContainsFunc(st[i].GetConnections(), func(c *agentv1.ReplicationConnection) bool {
				return c.GetConnectionName() == members[j].Name
			}) {
				p.Situation = Replicating
				h.Pairs = append(h.Pairs, p)
				continue
			}
			for _, r := range gtid.Missing(slave[i], pos[j]) {
				// What only the receiver wrote comes back to it and is skipped.
				if w := state[j].Writers(r.Domain); len(w) == 1 && w[0] == own {
					continue
				}
				if _, ok := slave[i].Last(r.Domain); ok {
					p.Situation = max(p.Situation, Behind)
				} else {
					p.Situation = Unapplied
				}
				p.Missing = append(p.Missing, r)
			}
			h.Pairs = append(h.Pairs, p)
		}
	}
	// Domains written by more than one member, and writes in owned domains
	// by a member that does not own them.
	domains := map[uint32]bool{}
	for _, s := range state {
		for _, d := range s.Domains() {
			domains[d] = true
		}
	}
	ds := make([]uint32, 0, len(domains))
	for d := range domains {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	for _, d := range ds {
		var writers []string
		for i, s := range state {
			sid := st[i].GetServer().GetServerId()
			if !s.Wrote(d, sid) {
				continue
			}
			writers = append(writers, fmt.Sprintf("%s (server_id %d)", members[i].Name, sid))
			if o, ok := h.Owned[d]; ok && o != i {
				g := gtid.GTID{Domain: d, Server: sid}
				for _, x := range s {
					if x.Domain == d && x.Server == sid {
						g = x
					}
				}
				h.Errant = append(h.Errant, fmt.Sprintf("%s wrote %s in domain %d, which setup assigns to %s", members[i].Name, g, d, members[o].Name))
			}
		}
		if len(writers) > 1 {
			h.Conflicts = append(h.Conflicts, Conflict{Domain: d, Writers: writers})
		}
	}
	return h
}

// unapplied lists the pairs that would replay history.
func (h History) unapplied() []Pair {
	var out []Pair
	for _, p := range h.Pairs {
		if p.Situation == Unapplied {
			out = append(out, p)
		}
	}
	return out
}

// legacy reports whether domain d is history from before setup: a domain
// no member owns once setup has run (typically 0).
func (h History) legacy(d uint32) bool {
	_, ok := h.Owned[d]
	return !ok
}

// refusal explains why setup cannot start the unapplied pairs and what
// the operator can do. seeded are the members a --seed-from run loads.
func (h History) refusal(members []Member, o Options, seeded map[int]bool) []string {
	var problems []string
	for _, p := range h.unapplied() {
		r, peer := members[p.Receiver].Name, members[p.Peer].Name
		if seeded[p.Receiver] {
			continue // the dump brings the peer's data and position
		}
		var owned []gtid.Range
		legacyOnly := true
		for _, m := range p.Missing {
			if !h.legacy(m.Domain) {
				legacyOnly = false
				owned = append(owned, m)
			}
		}
		if legacyOnly && (o.StartAt == StartAtCurrent || seeded[p.Peer]) {
			continue // skipped by the start position
		}
		if !legacyOnly {
			problems = append(problems, fmt.Sprintf("%s has never applied %s's history in replicated domains: %s; --start-at current skips only history written before replication was set up, so load %s's data with --seed-from %s (%s must hold no databases of its own, or --force)",
				r, peer, gtid.Ranges(owned), r, peer, r))
			continue
		}
		problems = append(problems, fmt.Sprintf("%s has never applied %s's history: %s; starting replication would replay it on %s, "+
			"including %s's own setup (its CREATE USER statements fail there with error 1396). Choose one:\n"+
			"      --start-at current   start at %s's current position, skipping that history; allowed only when the databases\n"+
			"                           on all nodes are identical, which setup proves first with CHECKSUM TABLE\n"+
			"      --seed-from %-8s load %s's databases into the other nodes (they must hold none of their own, or --force)",
			r, peer, gtid.Ranges(p.Missing), r, peer, peer, peer, peer))
	}
	for _, e := range h.Errant {
		problems = append(problems, "errant transactions: "+e+"; the histories conflict: remove them (or reseed that node) before setup")
	}
	return problems
}

// legacyNeeded lists the legacy domains some new connection would
// replay, ascending.
func (h History) legacyNeeded() []uint32 {
	need := map[uint32]bool{}
	for _, p := range h.unapplied() {
		for _, m := range p.Missing {
			if h.legacy(m.Domain) {
				need[m.Domain] = true
			}
		}
	}
	out := make([]uint32, 0, len(need))
	for d := range need {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Anchor is where every connection starts in one pre-setup domain: a
// GTID newer than anything any member has in it, which setup writes (a
// marker row) into every member's binlog. Every master then has it, so
// every replica may start there (MariaDB accepts a start position only if
// the master's binlog holds it), and whatever a member writes in the
// domain afterwards (a session opened before setup) still replicates.
type Anchor struct {
	Domain uint32
	GTID   gtid.GTID
}

// anchorGap is how far past the highest sequence number an anchor is
// placed, so that a member still writing in the domain (an app session
// opened before setup) does not reach it while setup writes it.
const anchorGap = 100

// anchors picks one Anchor per legacy domain that some new connection
// would replay: anchorGap past the highest sequence number any member has
// seen in it, server_id the first member's.
func (h History) anchors(st []*agentv1.GetReplicationStatusResponse) []Anchor {
	var out []Anchor
	for _, d := range h.legacyNeeded() {
		var top uint64
		for _, s := range st {
			for _, v := range []string{s.GetServer().GetGtidBinlogState(), s.GetServer().GetGtidSlavePos()} {
				l, _ := gtid.Parse(v)
				top = max(top, l.Seq(d))
			}
		}
		out = append(out, Anchor{Domain: d, GTID: gtid.GTID{Domain: d, Server: st[0].GetServer().GetServerId(), Seq: top + anchorGap}})
	}
	return out
}

// startPositions is, per member, the anchors its gtid_slave_pos lacks.
func startPositions(st []*agentv1.GetReplicationStatusResponse, anchors []Anchor) []string {
	out := make([]string, len(st))
	for i, s := range st {
		slave, _ := gtid.Parse(s.GetServer().GetGtidSlavePos())
		var parts []string
		for _, a := range anchors {
			if have, ok := slave.Last(a.Domain); !ok || have != a.GTID {
				parts = append(parts, a.GTID.String())
			}
		}
		out[i] = strings.Join(parts, ",")
	}
	return out
}
