// Package replication sets up MariaDB replication across the inventory's
// nodes through their agents, in one idempotent command: preflight on every
// node before any change, distinct GTID domains and auto-increment offsets,
// a replication account per node, one named GTID connection per peer, then
// proof that rows flow both ways. A re-run on a healthy set changes nothing;
// on a broken one it repairs what it can and explains what it cannot.
//
// labcontroller's `replication setup` and the labfleet_replication Ansible
// module both run it; it talks to MariaDB only through the agents.
package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labfleet/labfleet/internal/gtid"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Modes.
const (
	MasterMaster   = "master-master"
	PrimaryReplica = "primary-replica"
)

// ErrPreflight: a node is not ready; nothing was changed.
var ErrPreflight = errors.New("preflight failed; nothing was changed")

// Member is one node of the replication set.
type Member struct {
	Name string
	// DBHost and DBPort are where the other nodes' MariaDB reach this one.
	DBHost string
	DBPort uint32
	Agent  agentv1.AgentServiceClient
}

// Options tune Setup.
type Options struct {
	Mode         string
	ReplUser     string
	ReplPassword string
	ReplHost     string // host part of the account, default '%'
	Timeout      time.Duration
	DryRun       bool
	// SeedFrom names the member whose databases are loaded into the other
	// (empty) members before their connections start.
	SeedFrom string
	// Force lets seeding replace databases that already exist on a target.
	Force bool
	// StartAt is "" (refuse to replay a peer's pre-setup history) or
	// StartAtCurrent (skip it, once checksums prove the data identical).
	StartAt string
	// LockWait bounds how long a checksum waits for one locked table.
	LockWait time.Duration
	// Out receives the progress, one line per step.
	Out func(node, msg string)
}

// NodeReport is what happened on one node.
type NodeReport struct {
	Node     string
	Settings map[string]string // my.cnf lines that make SET GLOBAL survive a restart
	Changes  []*agentv1.ReplicationChange
}

// Report is the result of Setup.
type Report struct {
	Nodes    []*NodeReport
	Changed  bool
	Verified bool
	Took     time.Duration
}

// Setup runs the whole procedure.
func Setup(ctx context.Context, members []Member, o Options) (*Report, error) {
	t0 := time.Now()
	if o.Mode == "" {
		o.Mode = MasterMaster
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Out == nil {
		o.Out = func(string, string) {}
	}
	if len(members) < 2 {
		return nil, fmt.Errorf("%w: replication needs at least two nodes, the selection has %d", ErrPreflight, len(members))
	}
	// Before anything changes, as ErrPreflight promises.
	if o.SeedFrom != "" && !slices.ContainsFunc(members, func(m Member) bool { return m.Name == o.SeedFrom }) {
		return nil, fmt.Errorf("%w: --seed-from %s is not one of the selected nodes", ErrPreflight, o.SeedFrom)
	}
	if o.StartAt != "" && o.StartAt != StartAtCurrent {
		return nil, fmt.Errorf("%w: --start-at %q: the only choice is %q", ErrPreflight, o.StartAt, StartAtCurrent)
	}
	st, err := preflight(ctx, members, o)
	if err != nil {
		return nil, err
	}
	facts := make([]*agentv1.ServerFacts, len(st))
	for i, s := range st {
		facts[i] = s.GetServer()
	}
	hist, err := checkHistory(members, st, o)
	if err != nil {
		return nil, err
	}
	if o.StartAt == StartAtCurrent && len(hist.unapplied()) > 0 {
		if err = provenIdentical(ctx, members, o); err != nil {
			return nil, err
		}
	}
	// Fresh positions: the checksums took a while, and an app may write.
	if len(hist.legacyNeeded()) > 0 {
		if st, err = statuses(ctx, members); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPreflight, err)
		}
	}
	anchors := hist.anchors(st)
	if err := writeAnchors(ctx, members, anchors, o); err != nil {
		return nil, err
	}
	starts := startPositions(st, anchors)
	rep := &Report{}
	reqs := desired(members, facts, o)
	for i := range reqs {
		reqs[i].StartGtidSlavePos = starts[i]
	}
	// Two passes: every node's settings and account first, then the
	// connections, so no IO thread meets a peer without its account yet
	// (it would wait MASTER_CONNECT_RETRY before trying again).
	for pass := 0; pass < 2; pass++ {
		if pass == 1 && o.SeedFrom != "" && !o.DryRun {
			if err := seedAll(ctx, members, o); err != nil {
				return rep, err
			}
		}
		for i, m := range members {
			req := reqs[i]
			if pass == 0 {
				req = &agentv1.ConfigureReplicationRequest{DryRun: o.DryRun, Settings: req.GetSettings(), User: req.GetUser()}
				rep.Nodes = append(rep.Nodes, &NodeReport{Node: m.Name, Settings: mycnf(facts[i].GetServerId(), req.GetSettings())})
			}
			resp, err := m.Agent.ConfigureReplication(ctx, req)
			if err != nil {
				return rep, fmt.Errorf("%s: %w", m.Name, err)
			}
			for _, c := range resp.GetChanges() {
				if pass == 1 && !strings.HasPrefix(c.GetAction(), "connection ") && c.GetAction() != "gtid_slave_pos" {
					continue // already reported in the first pass
				}
				verb := "ok     "
				if c.GetChanged() {
					verb = "CHANGED"
					rep.Changed = true
				}
				if o.DryRun && c.GetChanged() {
					verb = "WOULD  "
				}
				o.Out(m.Name, fmt.Sprintf("%s %s: %s", verb, c.GetAction(), c.GetDetail()))
				rep.Nodes[i].Changes = append(rep.Nodes[i].Changes, c)
			}
		}
	}
	if o.DryRun {
		rep.Took = time.Since(t0)
		return rep, nil
	}
	if err := waitRunning(ctx, members, o); err != nil {
		return rep, err
	}
	if err := verify(ctx, members, o); err != nil {
		return rep, err
	}
	rep.Verified = true
	rep.Took = time.Since(t0)
	return rep, nil
}

// desired is each node's target state.
func desired(members []Member, facts []*agentv1.ServerFacts, o Options) []*agentv1.ConfigureReplicationRequest {
	n := uint32(len(members))
	out := make([]*agentv1.ConfigureReplicationRequest, len(members))
	for i := range members {
		idx := uint32(i + 1)
		req := &agentv1.ConfigureReplicationRequest{DryRun: o.DryRun,
			Settings: &agentv1.ServerSettings{GtidDomainId: idx, BinlogFormat: "ROW"},
			User:     &agentv1.ReplicationUser{Name: o.ReplUser, Password: o.ReplPassword, Host: o.ReplHost},
		}
		if o.Mode == MasterMaster {
			req.Settings.AutoIncrementIncrement = max(n, 2)
			req.Settings.AutoIncrementOffset = idx
			// Three masters or more: each transaction arrives twice.
			req.Settings.GtidIgnoreDuplicates = n >= 3
		}
		for j, p := range members {
			if j == i || (o.Mode == PrimaryReplica && (i == 0 || j != 0)) {
				continue
			}
			req.Sources = append(req.Sources, &agentv1.ReplicationSource{ConnectionName: p.Name, Host: p.DBHost, Port: p.DBPort,
				User: o.ReplUser, Password: o.ReplPassword})
		}
		out[i] = req
	}
	return out
}

// preflight checks every node before anything changes.
func preflight(ctx context.Context, members []Member, o Options) ([]*agentv1.GetReplicationStatusResponse, error) {
	sts := make([]*agentv1.GetReplicationStatusResponse, len(members))
	var problems []string
	ids := map[uint32][]string{}
	for i, m := range members {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := m.Agent.GetReplicationStatus(cctx, &agentv1.GetReplicationStatusRequest{})
		cancel()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", m.Name, err))
			continue
		}
		f := st.GetServer()
		sts[i] = st
		o.Out(m.Name, fmt.Sprintf("preflight: MariaDB %s, server_id %d, log_bin %v, log_slave_updates %v, binlog_format %s, gtid_binlog_pos %q, gtid_slave_pos %q",
			f.GetVersion(), f.GetServerId(), f.GetLogBin(), f.GetLogSlaveUpdates(), f.GetBinlogFormat(), f.GetGtidBinlogPos(), f.GetGtidSlavePos()))
		if !f.GetLogBin() || !f.GetLogSlaveUpdates() {
			problems = append(problems, fmt.Sprintf("%s: log_bin=%v log_slave_updates=%v; add to its my.cnf [mariadb] section:\n    log_bin = mysql-bin\n    log_slave_updates = ON\n  and restart MariaDB (neither can change at run time)",
				m.Name, f.GetLogBin(), f.GetLogSlaveUpdates()))
		}
		ids[f.GetServerId()] = append(ids[f.GetServerId()], m.Name)
	}
	keys := make([]uint32, 0, len(ids))
	for id := range ids {
		keys = append(keys, id)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, id := range keys {
		if names := ids[id]; len(names) > 1 {
			problems = append(problems, fmt.Sprintf("server_id %d is used by %s; every node needs its own: set server_id = <unique number> in the my.cnf of all but one and restart",
				id, strings.Join(names, " and ")))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", ErrPreflight, strings.Join(problems, "\n  "))
	}
	return sts, nil
}

// checkHistory classifies every connection of the set, reports it, and
// refuses (before any change) what would replay history or needs a
// seed target that is not empty.
func checkHistory(members []Member, st []*agentv1.GetReplicationStatusResponse, o Options) (History, error) {
	h := classify(members, st, o.Mode)
	for _, p := range h.Pairs {
		msg := fmt.Sprintf("preflight: from %s: %s", members[p.Peer].Name, p.Situation)
		if len(p.Missing) > 0 {
			msg += ": " + gtid.Ranges(p.Missing)
		}
		o.Out(members[p.Receiver].Name, msg)
	}
	for _, c := range h.Conflicts {
		if h.legacy(c.Domain) {
			o.Out(members[0].Name, fmt.Sprintf("preflight: domain %d was written on %s before replication; each side's history there stays its own",
				c.Domain, strings.Join(c.Writers, " and ")))
		}
	}
	seeded := map[int]bool{}
	var problems []string
	if o.SeedFrom != "" {
		for i, m := range members {
			if m.Name == o.SeedFrom || slices.ContainsFunc(st[i].GetConnections(), func(c *agentv1.ReplicationConnection) bool {
				return c.GetConnectionName() == o.SeedFrom
			}) {
				continue
			}
			seeded[i] = true
			if dbs := st[i].GetServer().GetUserDatabases(); len(dbs) > 0 && !o.Force {
				problems = append(problems, fmt.Sprintf("%s cannot be seeded from %s: it holds databases of its own (%s); only system schemas and accounts count as empty. "+
					"Move them away, or pass --force to replace those the dump contains", m.Name, o.SeedFrom, strings.Join(dbs, ", ")))
			}
		}
	}
	problems = append(problems, h.refusal(members, o, seeded)...)
	if len(problems) > 0 {
		return h, fmt.Errorf("%w:\n  %s", ErrPreflight, strings.Join(problems, "\n  "))
	}
	return h, nil
}

// writeAnchors writes each anchor's marker, as exactly its GTID, on every
// member: before any setting changes, so that a failure leaves nothing
// but marker rows in labfleet.replication_markers, and a re-run picks a
// new anchor past them.
func writeAnchors(ctx context.Context, members []Member, anchors []Anchor, o Options) error {
	for _, a := range anchors {
		marker := fmt.Sprintf("start-%s-%s", a.GTID, time.Now().UTC().Format("20060102T150405.000000"))
		for _, m := range members {
			if o.DryRun {
				o.Out(m.Name, fmt.Sprintf("WOULD   start marker %s: every connection starts after it in domain %d, skipping the history before replication", a.GTID, a.Domain))
				continue
			}
			if _, err := m.Agent.VerifyReplication(ctx, &agentv1.VerifyReplicationRequest{WriteMarker: marker, MarkerGtid: a.GTID.String()}); err != nil {
				return fmt.Errorf("%s: cannot write the start marker %s: %w", m.Name, a.GTID, err)
			}
			o.Out(m.Name, fmt.Sprintf("CHANGED start marker %s: every connection starts after it in domain %d, skipping the history before replication", a.GTID, a.Domain))
		}
	}
	return nil
}

// mycnf is the my.cnf section that keeps a node's settings across restarts.
func mycnf(serverID uint32, s *agentv1.ServerSettings) map[string]string {
	out := map[string]string{
		"server_id": fmt.Sprint(serverID), "log_bin": "mysql-bin", "log_slave_updates": "ON",
		"binlog_format": "ROW", "gtid_domain_id": fmt.Sprint(s.GetGtidDomainId()),
	}
	if s.GetAutoIncrementIncrement() != 0 {
		out["auto_increment_increment"] = fmt.Sprint(s.GetAutoIncrementIncrement())
		out["auto_increment_offset"] = fmt.Sprint(s.GetAutoIncrementOffset())
	}
	if s.GetGtidIgnoreDuplicates() {
		out["gtid_ignore_duplicates"] = "ON"
	}
	return out
}

// MyCnf renders a node's settings as a my.cnf section.
func (r *NodeReport) MyCnf() string {
	keys := []string{"server_id", "log_bin", "log_slave_updates", "binlog_format", "gtid_domain_id", "auto_increment_increment", "auto_increment_offset", "gtid_ignore_duplicates"}
	var b strings.Builder
	b.WriteString("[mariadb]\n")
	for _, k := range keys {
		if v, ok := r.Settings[k]; ok {
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
	}
	return b.String()
}

// waitRunning waits until every connection of every node runs both threads.
func waitRunning(ctx context.Context, members []Member, o Options) error {
	deadline := time.Now().Add(o.Timeout)
	for {
		var bad []string
		for _, m := range members {
			st, err := m.Agent.GetReplicationStatus(ctx, &agentv1.GetReplicationStatusRequest{})
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", m.Name, err))
				continue
			}
			for _, c := range st.GetConnections() {
				if c.GetIoRunning() != "Yes" || c.GetSqlRunning() != "Yes" {
					bad = append(bad, fmt.Sprintf("%s: %s", m.Name, Explain(c)))
				}
			}
		}
		if len(bad) == 0 {
			for _, m := range members {
				o.Out(m.Name, "replication threads running")
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replication did not start within %s:\n  %s", o.Timeout, strings.Join(bad, "\n  "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Explain describes a connection's state and, for known errors, the remedy.
func Explain(c *agentv1.ReplicationConnection) string {
	s := fmt.Sprintf("connection '%s' from %s:%d: IO %s, SQL %s", c.GetConnectionName(), c.GetMasterHost(), c.GetMasterPort(), c.GetIoRunning(), c.GetSqlRunning())
	switch c.GetLastIoErrno() {
	case 0:
	case 1045:
		s += fmt.Sprintf("; the master refused the replication user (error 1045: %s): re-run `labcontroller replication setup` to reset the password on both sides", c.GetLastIoError())
	case 2003, 2005, 2013:
		s += fmt.Sprintf("; cannot reach the master (error %d: %s): check that MariaDB there listens on %s:%d (bind-address) and no firewall blocks it", c.GetLastIoErrno(), c.GetLastIoError(), c.GetMasterHost(), c.GetMasterPort())
	case 1236:
		s += fmt.Sprintf("; the master no longer has the binlog this replica needs (error 1236: %s): reseed this node from the master", c.GetLastIoError())
	default:
		s += fmt.Sprintf("; IO error %d: %s", c.GetLastIoErrno(), c.GetLastIoError())
	}
	switch c.GetLastSqlErrno() {
	case 0:
	case 1062:
		s += fmt.Sprintf("; a row written on both nodes collides (error 1062: %s): decide which copy wins, fix the row on this node, then re-run setup", c.GetLastSqlError())
	default:
		s += fmt.Sprintf("; SQL error %d: %s", c.GetLastSqlErrno(), c.GetLastSqlError())
	}
	return s
}

// verify writes a marker on each writing node and waits until every node
// that replicates from it has read it.
func verify(ctx context.Context, members []Member, o Options) error {
	stamp := time.Now().UTC().Format("20060102T150405.000000")
	markers := map[string]string{}
	for i, m := range members {
		if o.Mode == PrimaryReplica && i > 0 {
			continue
		}
		markers[m.Name] = "setup-" + stamp + "-" + m.Name
		if _, err := m.Agent.VerifyReplication(ctx, &agentv1.VerifyReplicationRequest{WriteMarker: markers[m.Name]}); err != nil {
			return fmt.Errorf("%s: cannot write the marker row: %w", m.Name, err)
		}
	}
	deadline := time.Now().Add(o.Timeout)
	for _, m := range members {
		var want []string
		for name, mk := range markers {
			if name != m.Name {
				want = append(want, mk)
			}
		}
		if len(want) == 0 {
			continue
		}
		for {
			resp, err := m.Agent.VerifyReplication(ctx, &agentv1.VerifyReplicationRequest{ReadMarkers: want})
			if err != nil {
				return fmt.Errorf("%s: cannot read marker rows: %w", m.Name, err)
			}
			if len(resp.GetFoundMarkers()) == len(want) {
				o.Out(m.Name, fmt.Sprintf("verified: read the marker rows written on the other node(s) (%d)", len(want)))
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: the marker rows written on the other nodes did not arrive within %s (found %d of %d); see `labcontroller replication status`",
					m.Name, o.Timeout, len(resp.GetFoundMarkers()), len(want))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// seedAll loads the seed member's databases into every other member that
// does not replicate from it yet.
func seedAll(ctx context.Context, members []Member, o Options) error {
	var src *Member
	for i := range members {
		if members[i].Name == o.SeedFrom {
			src = &members[i]
		}
	}
	if src == nil {
		return fmt.Errorf("%w: --seed-from %s is not one of the selected nodes", ErrPreflight, o.SeedFrom)
	}
	for _, m := range members {
		if m.Name == src.Name {
			continue
		}
		st, err := m.Agent.GetReplicationStatus(ctx, &agentv1.GetReplicationStatusRequest{ConnectionName: src.Name})
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		if len(st.GetConnections()) > 0 {
			o.Out(m.Name, fmt.Sprintf("ok      seed: already replicates from %s; not seeding", src.Name))
			continue
		}
		if err := seed(ctx, *src, m, o); err != nil {
			return fmt.Errorf("seeding %s from %s: %w", m.Name, src.Name, err)
		}
	}
	return nil
}

// seed streams a dump from src's agent into dst's agent.
func seed(ctx context.Context, src, dst Member, o Options) error {
	// Cancelling ends both streams when one side fails: a dump nobody reads
	// would block on flow control, and a load never closed would wait.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dump, err := src.Agent.DumpDatabases(ctx, &agentv1.DumpDatabasesRequest{})
	if err != nil {
		return err
	}
	load, err := dst.Agent.LoadDump(ctx)
	if err != nil {
		return err
	}
	first, dbs := true, []string(nil)
	for {
		msg, err := dump.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("dump: %w", err)
		}
		if first {
			dbs = msg.GetDatabases()
		}
		if err := load.Send(&agentv1.LoadDumpRequest{Chunk: msg.GetChunk(), Force: first && o.Force}); err != nil {
			break // the error comes with CloseAndRecv
		}
		first = false
	}
	resp, err := load.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	o.Out(dst.Name, fmt.Sprintf("CHANGED seed: loaded %s from %s (%d bytes), gtid_slave_pos %s",
		strings.Join(dbs, ", "), src.Name, resp.GetBytes(), resp.GetGtidSlavePos()))
	return nil
}
