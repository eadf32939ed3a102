// Package gtid reads MariaDB GTID lists (gtid_binlog_pos, gtid_slave_pos,
// gtid_binlog_state, Gtid_IO_Pos) and compares them, so that replication
// setup, `replication check` and check_replication agree on what a node
// has applied, what it lacks of a peer's history, and how far behind it is.
//
// A MariaDB GTID is domain-server-seq. Within a domain the sequence number
// grows with every transaction, whoever writes it, so "what a node lacks"
// is a range of sequence numbers per domain. A position (gtid_*_pos) has
// one GTID per domain; a state (gtid_binlog_state) has one per domain and
// server, which tells who wrote in a domain. It imports only the standard
// library, so the agent, the controller and the plugins can all use it.
package gtid

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GTID is one global transaction id.
type GTID struct {
	Domain, Server uint32
	Seq            uint64
}

func (g GTID) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq) }

// List is a GTID position or state, sorted by domain then server.
type List []GTID

// Parse reads a comma-separated GTID list as MariaDB prints it; spaces and
// newlines (SHOW SLAVE STATUS wraps long lists) are ignored.
func Parse(s string) (List, error) {
	var out List
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, "-")
		if len(f) != 3 {
			return nil, fmt.Errorf("GTID %q is not domain-server-seq", part)
		}
		d, err1 := strconv.ParseUint(f[0], 10, 32)
		sv, err2 := strconv.ParseUint(f[1], 10, 32)
		seq, err3 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("GTID %q is not domain-server-seq (three unsigned numbers)", part)
		}
		out = append(out, GTID{Domain: uint32(d), Server: uint32(sv), Seq: seq})
	}
	out.sort()
	return out, nil
}

// MustParse is Parse for literals in tests and tables; it panics on error.
func MustParse(s string) List {
	l, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return l
}

func (l List) sort() {
	slices.SortFunc(l, func(a, b GTID) int {
		if a.Domain != b.Domain {
			return int(int64(a.Domain) - int64(b.Domain))
		}
		return int(int64(a.Server) - int64(b.Server))
	})
}

// String prints the list as MariaDB accepts it in SET GLOBAL gtid_slave_pos.
func (l List) String() string {
	parts := make([]string, len(l))
	for i, g := range l {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}

// Domains lists the domains present, ascending.
func (l List) Domains() []uint32 {
	var out []uint32
	for _, g := range l {
		if len(out) == 0 || out[len(out)-1] != g.Domain {
			out = append(out, g.Domain)
		}
	}
	return out
}

// Last is the GTID with the highest sequence number in domain d: in a
// position, the domain's only entry; in a state, the newest writer's.
func (l List) Last(d uint32) (GTID, bool) {
	var best GTID
	found := false
	for _, g := range l {
		if g.Domain == d && (!found || g.Seq > best.Seq) {
			best, found = g, true
		}
	}
	return best, found
}

// Seq is the highest sequence number in domain d, 0 when absent.
func (l List) Seq(d uint32) uint64 {
	g, _ := l.Last(d)
	return g.Seq
}

// Writers lists the server ids that wrote in domain d (from a state).
func (l List) Writers(d uint32) []uint32 {
	var out []uint32
	for _, g := range l {
		if g.Domain == d {
			out = append(out, g.Server)
		}
	}
	return out
}

// Wrote reports whether server wrote in domain d (from a state).
func (l List) Wrote(d, server uint32) bool { return slices.Contains(l.Writers(d), server) }

// With returns l with g replacing l's entries for g's domain: how
// SET GLOBAL gtid_slave_pos changes one domain and keeps the others.
func (l List) With(g GTID) List {
	out := List{g}
	for _, x := range l {
		if x.Domain != g.Domain {
			out = append(out, x)
		}
	}
	out.sort()
	return out
}

// Range is the transactions of one domain a node lacks: sequence numbers
// From through To.
type Range struct {
	Domain   uint32
	From, To uint64
	// Server wrote the range's last transaction.
	Server uint32
}

// Count is the number of transactions in the range.
func (r Range) Count() uint64 { return r.To - r.From + 1 }

// String names the range in GTIDs, e.g. "0-2-1..0-2-11 (11 transactions)".
func (r Range) String() string {
	unit := "transactions"
	if r.Count() == 1 {
		unit = "transaction"
	}
	return fmt.Sprintf("%d-%d-%d..%d-%d-%d (%d %s)", r.Domain, r.Server, r.From, r.Domain, r.Server, r.To, r.Count(), unit)
}

// Missing lists, per domain, what have lacks of want: the domains of want
// that have does not hold at all, or holds at a lower sequence number.
func Missing(have, want List) []Range {
	var out []Range
	for _, d := range want.Domains() {
		w, _ := want.Last(d)
		if h := have.Seq(d); h < w.Seq {
			out = append(out, Range{Domain: d, From: h + 1, To: w.Seq, Server: w.Server})
		}
	}
	return out
}

// Behind is the number of transactions of want that have lacks, over the
// given domains (all of want's when none are given).
func Behind(have, want List, domains ...uint32) uint64 {
	var n uint64
	for _, r := range Missing(have, want) {
		if len(domains) == 0 || slices.Contains(domains, r.Domain) {
			n += r.Count()
		}
	}
	return n
}

// Ranges joins ranges for a message.
func Ranges(rs []Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}
