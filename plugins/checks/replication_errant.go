//go:build !labfleet_lean

package checks

import (
	"slices"
	"strconv"
	"strings"

	"github.com/labfleet/labfleet/internal/gtid"
	"github.com/labfleet/labfleet/plugins/pluginkit"
)

// check_replication --check-errant. The rule looks at one server (and its
// master with --master), so it is simpler than labcontroller replication
// check's, which knows every node and so each domain's owner: here a
// domain is taken to be owned by the server whose gtid_domain_id it is.

// errant records --check-errant's findings; see the help text for the rule.
func (c *replicationCheck) errant(r *pluginkit.Result, addr string, f serverFacts, m *masterFacts) {
	errant := errantGTIDs(f.state, f.serverID, f.domainID, c.legacy)
	r.Perf(pluginkit.Perf{Label: "errant", Value: float64(len(errant)), Crit: &pluginkit.Range{}, Min: pluginkit.F(0)})
	legacy := make([]string, len(c.legacy))
	for i, d := range c.legacy {
		legacy[i] = strconv.FormatUint(uint64(d), 10)
	}
	if len(errant) > 0 {
		r.Critical("errant transactions on %s: %s (written by this server, server_id %d, outside its gtid_domain_id %d)", addr, errant, f.serverID, f.domainID)
	} else {
		r.Long("no errant transactions: gtid_binlog_state %s has none by server_id %d outside domain %d (legacy domains left out: %s)",
			orNone(f.state.String()), f.serverID, f.domainID, orNone(strings.Join(legacy, ",")))
	}
	switch {
	case m == nil:
	case slices.Contains(c.legacy, m.domainID):
		r.Long("the master's domain %d is a legacy domain: not compared with the master", m.domainID)
	default:
		here, there := orNone(gtidIn(f.binlogPos, m.domainID)), orNone(gtidIn(m.pos, m.domainID))
		if aheadOfMaster(f.binlogPos, m.pos, m.domainID) {
			r.Critical("%s is ahead of its master %s in the master's domain %d: its binlog has %s, the master's %s", addr, m.addr, m.domainID, here, there)
		} else {
			r.Long("not ahead of the master %s in its domain %d (binlog here %s, there %s)", m.addr, m.domainID, here, there)
		}
	}
}

// errantGTIDs lists the entries of a server's gtid_binlog_state that are
// errant under check_replication's rule: written by this server (its
// server_id) in a domain that is not its own gtid_domain_id, leaving out the
// legacy domains (by default 0, which every server writes before
// replication is set up). A state has one entry per domain and server, so
// each names the last such transaction in its domain.
func errantGTIDs(state gtid.List, serverID, domainID uint32, legacy []uint32) gtid.List {
	var out gtid.List
	for _, g := range state {
		if g.Server == serverID && g.Domain != domainID && !slices.Contains(legacy, g.Domain) {
			out = append(out, g)
		}
	}
	return out
}

// aheadOfMaster reports whether this server's binlog holds a later
// transaction in the master's domain than the master's binlog does: a
// transaction written here in a domain only the master should write.
func aheadOfMaster(mine, masters gtid.List, domain uint32) bool {
	return mine.Seq(domain) > masters.Seq(domain)
}
