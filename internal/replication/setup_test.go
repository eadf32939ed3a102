package replication

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/labfleet/labfleet/internal/agentclient"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

const replPassword = `pa'ss\word"`

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func opts(p *progress) Options {
	return Options{ReplUser: "repl", ReplPassword: replPassword, ReplHost: "10.0.0.%", Timeout: 5 * time.Second, Out: p.out}
}

func wantRequest(t *testing.T, what string, got, want *agentv1.ConfigureReplicationRequest) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func TestSetup_MasterMasterConfiguresVerifiesAndReportsMyCnf(t *testing.T) {
	agents := newLab(2)
	members := startAgents(t, agents...)
	var p progress
	rep, err := Setup(testCtx(t), members, opts(&p))
	if err != nil {
		t.Fatalf("Setup: %v\n%s", err, &p)
	}
	if !rep.Changed || !rep.Verified || rep.Took <= 0 {
		t.Errorf("report: Changed %v Verified %v Took %v; want a changed, verified run", rep.Changed, rep.Verified, rep.Took)
	}
	user := &agentv1.ReplicationUser{Name: "repl", Password: replPassword, Host: "10.0.0.%"}
	for i, a := range agents {
		peer := members[1-i]
		reqs := a.configured()
		if len(reqs) != 2 {
			t.Fatalf("%s got %d ConfigureReplication calls, want 2 (settings and account, then connections)", a.name, len(reqs))
		}
		settings := &agentv1.ServerSettings{GtidDomainId: uint32(i + 1), AutoIncrementIncrement: 2, AutoIncrementOffset: uint32(i + 1), BinlogFormat: "ROW"}
		// First pass: no connection yet, so no IO thread meets a peer without its account.
		wantRequest(t, a.name+" pass 1", reqs[0], &agentv1.ConfigureReplicationRequest{Settings: settings, User: user})
		wantRequest(t, a.name+" pass 2", reqs[1], &agentv1.ConfigureReplicationRequest{Settings: settings, User: user,
			Sources: []*agentv1.ReplicationSource{{ConnectionName: peer.Name, Host: peer.DBHost, Port: 3306, User: "repl", Password: replPassword}}})
	}

	if len(rep.Nodes) != 2 || rep.Nodes[0].Node != "node1" || rep.Nodes[1].Node != "node2" {
		t.Fatalf("report nodes: %+v", rep.Nodes)
	}
	wantCnf := "[mariadb]\nserver_id = 2\nlog_bin = mysql-bin\nlog_slave_updates = ON\nbinlog_format = ROW\n" +
		"gtid_domain_id = 2\nauto_increment_increment = 2\nauto_increment_offset = 2\n"
	if got := rep.Nodes[1].MyCnf(); got != wantCnf {
		t.Errorf("node2 my.cnf:\n%s\nwant:\n%s", got, wantCnf)
	}
	// Each step once: the second pass reports only the connections. A fresh
	// server's auto_increment_offset is already 1, node1's wanted value.
	var actions []string
	for _, c := range rep.Nodes[0].Changes {
		actions = append(actions, c.GetAction())
		if want := c.GetAction() != "set auto_increment_offset"; c.GetChanged() != want {
			t.Errorf("node1: %s: changed %v, want %v", c.GetAction(), c.GetChanged(), want)
		}
	}
	wantActions := "set gtid_domain_id|set auto_increment_increment|set auto_increment_offset|set binlog_format|" +
		"replication user 'repl'@'10.0.0.%'|connection 'node2' from 10.0.0.2:3306"
	if got := strings.Join(actions, "|"); got != wantActions {
		t.Errorf("node1 changes:\n %s\nwant\n %s", got, wantActions)
	}

	for _, want := range []string{
		"node1: preflight: MariaDB 10.11.6-MariaDB, server_id 1, log_bin true, log_slave_updates true, binlog_format MIXED",
		"node2: CHANGED set gtid_domain_id: 0 -> 2",
		"node2: CHANGED connection 'node1' from 10.0.0.1:3306: created with MASTER_USE_GTID=slave_pos and started",
		"node1: replication threads running",
		"node2: verified: read the marker rows written on the other node(s) (1)",
	} {
		if len(p.grep(want)) != 1 {
			t.Errorf("progress should have %q once:\n%s", want, &p)
		}
	}
	if strings.Contains(p.String(), replPassword) {
		t.Errorf("the replication password reached the progress output")
	}
	// Each node wrote one marker, and read the other's.
	for i, a := range agents {
		var wrote, read []string
		for _, v := range a.verified() {
			if v.GetWriteMarker() != "" {
				wrote = append(wrote, v.GetWriteMarker())
			}
			read = append(read, v.GetReadMarkers()...)
		}
		if len(wrote) != 1 || !strings.HasSuffix(wrote[0], "-"+a.name) {
			t.Errorf("%s wrote markers %q, want one ending in -%s", a.name, wrote, a.name)
		}
		if len(read) == 0 || !strings.HasSuffix(read[0], "-"+members[1-i].Name) {
			t.Errorf("%s looked for %q, want the marker of %s", a.name, read, members[1-i].Name)
		}
	}
}

func TestSetup_RerunChangesNothingAndRepairsADrift(t *testing.T) {
	agents := newLab(2)
	members := startAgents(t, agents...)
	var first progress
	if _, err := Setup(testCtx(t), members, opts(&first)); err != nil {
		t.Fatalf("first Setup: %v\n%s", err, &first)
	}
	before := []string{agents[0].snapshot(), agents[1].snapshot()}

	var again progress
	rep, err := Setup(testCtx(t), members, opts(&again))
	if err != nil {
		t.Fatalf("second Setup: %v\n%s", err, &again)
	}
	if rep.Changed || !rep.Verified {
		t.Errorf("re-run: Changed %v Verified %v, want nothing changed and verified", rep.Changed, rep.Verified)
	}
	if ch := again.grep("CHANGED"); len(ch) != 0 {
		t.Errorf("re-run reported changes: %q", ch)
	}
	if n := len(again.grep("ok      set gtid_domain_id: ")); n != 2 {
		t.Errorf("re-run: %d 'ok set gtid_domain_id' lines, want one per node:\n%s", n, &again)
	}
	for i, a := range agents {
		if got := a.snapshot(); got != before[i] {
			t.Errorf("%s changed on a re-run:\n before %s\n after  %s", a.name, before[i], got)
		}
		for _, c := range rep.Nodes[i].Changes {
			if c.GetChanged() {
				t.Errorf("%s: %s reported changed on a re-run", a.name, c.GetAction())
			}
		}
	}

	// A stopped connection on node2 is repaired, and only that is reported.
	agents[1].mu.Lock()
	agents[1].conns["node1"].IoRunning = "No"
	agents[1].mu.Unlock()
	var repair progress
	rep, err = Setup(testCtx(t), members, opts(&repair))
	if err != nil {
		t.Fatalf("repair Setup: %v\n%s", err, &repair)
	}
	ch := repair.grep("CHANGED")
	if !rep.Changed || len(ch) != 1 || !strings.HasPrefix(ch[0], "node2: CHANGED connection 'node1' from 10.0.0.1:3306") {
		t.Errorf("repair: Changed %v, changes %q; want exactly node2's connection", rep.Changed, ch)
	}
}

func TestSetup_PreflightFailureChangesNothing(t *testing.T) {
	agents := newLab(3)
	agents[1].facts.LogBin = false
	agents[2].facts.ServerId = 1 // the same as node1
	members := startAgents(t, agents...)
	before := []string{agents[0].snapshot(), agents[1].snapshot(), agents[2].snapshot()}

	var p progress
	rep, err := Setup(testCtx(t), members, opts(&p))
	if !errors.Is(err, ErrPreflight) || rep != nil {
		t.Fatalf("Setup = %v, %v; want ErrPreflight and no report", rep, err)
	}
	for _, want := range []string{
		"preflight failed; nothing was changed",
		"node2: log_bin=false log_slave_updates=true; add to its my.cnf [mariadb] section",
		"log_bin = mysql-bin",
		"server_id 1 is used by node1 and node3",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error should contain %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "node1: log_bin") {
		t.Errorf("error blames node1, which is ready:\n%v", err)
	}
	for i, a := range agents {
		if n := len(a.configured()); n != 0 {
			t.Errorf("%s got %d ConfigureReplication calls after a failed preflight", a.name, n)
		}
		if a.snapshot() != before[i] {
			t.Errorf("%s changed after a failed preflight", a.name)
		}
	}
}

func TestSetup_PreflightNamesUnreachableNodes(t *testing.T) {
	agents := newLab(3)
	agents[1].statusErr = status.Error(codes.Unavailable, "MariaDB unavailable: cannot reach MariaDB at 10.0.0.2:3306")
	members := startAgents(t, agents...)
	// node3's agent is not running at all.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	c, err := agentclient.Dial(agentclient.Options{Addr: dead, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	members[2].Agent = c.Agent

	_, err = Setup(testCtx(t), members, opts(&progress{}))
	if !errors.Is(err, ErrPreflight) {
		t.Fatalf("Setup = %v; want ErrPreflight", err)
	}
	for _, want := range []string{
		"node2: rpc error: code = Unavailable desc = MariaDB unavailable: cannot reach MariaDB at 10.0.0.2:3306",
		"node3: rpc error: code = Unavailable",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error should contain %q:\n%v", want, err)
		}
	}
	if n := len(agents[0].configured()); n != 0 {
		t.Errorf("node1 got %d ConfigureReplication calls", n)
	}
}

func TestSetup_NeedsTwoNodes(t *testing.T) {
	agents := newLab(1)
	members := startAgents(t, agents...)
	_, err := Setup(testCtx(t), members, opts(&progress{}))
	if !errors.Is(err, ErrPreflight) || !strings.Contains(err.Error(), "at least two nodes, the selection has 1") {
		t.Fatalf("Setup with one node = %v", err)
	}
	if len(agents[0].configured()) != 0 {
		t.Fatal("a single node was configured")
	}
}

func TestSetup_AgentErrorNamesTheNode(t *testing.T) {
	agents := newLab(2)
	agents[1].configureErr = status.Error(codes.FailedPrecondition, "replication needs attention: connection 'x' already replicates from 10.0.0.1:3306")
	members := startAgents(t, agents...)
	rep, err := Setup(testCtx(t), members, opts(&progress{}))
	if err == nil || !strings.HasPrefix(err.Error(), "node2: ") || status.Code(err) != codes.FailedPrecondition ||
		!strings.Contains(err.Error(), "connection 'x' already replicates") {
		t.Fatalf("Setup = %v; want node2's FailedPrecondition, prefixed with its name", err)
	}
	if errors.Is(err, ErrPreflight) {
		t.Errorf("a failure after changes began must not claim that nothing was changed: %v", err)
	}
	// node1 got its settings and account; nobody got a connection.
	if reqs := agents[0].configured(); len(reqs) != 1 || len(reqs[0].GetSources()) != 0 {
		t.Errorf("node1 requests: %v; want only the first pass", reqs)
	}
	if rep == nil || len(rep.Nodes) != 2 {
		t.Errorf("the report should list both nodes for their my.cnf: %+v", rep)
	}
}

func TestSetup_ConnectionThatNeverRunsTimesOutWithExplanation(t *testing.T) {
	agents := newLab(2)
	agents[1].ioErrno = 1045
	members := startAgents(t, agents...)
	o := opts(&progress{})
	o.Timeout = 300 * time.Millisecond
	rep, err := Setup(testCtx(t), members, o)
	if err == nil {
		t.Fatal("Setup succeeded with a connection that never runs")
	}
	for _, want := range []string{
		"replication did not start within 300ms",
		"node2: connection 'node1' from 10.0.0.1:3306: IO Connecting, SQL Yes; the master refused the replication user (error 1045: Access denied for user 'repl')",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error should contain %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "node1: connection") {
		t.Errorf("error blames node1, whose connection runs:\n%v", err)
	}
	if rep == nil || rep.Verified {
		t.Errorf("report %+v: want one, not verified", rep)
	}
}

func TestSetup_MarkersThatNeverArriveNameTheNode(t *testing.T) {
	agents := newLab(2)
	agents[0].deaf = true
	members := startAgents(t, agents...)
	o := opts(&progress{})
	o.Timeout = 300 * time.Millisecond
	rep, err := Setup(testCtx(t), members, o)
	want := "node1: the marker rows written on the other nodes did not arrive within 300ms (found 0 of 1)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Setup = %v; want %q", err, want)
	}
	if rep.Verified {
		t.Error("report says verified")
	}
}

func TestSetup_DryRunChangesNothing(t *testing.T) {
	agents := newLab(2)
	members := startAgents(t, agents...)
	before := []string{agents[0].snapshot(), agents[1].snapshot()}
	var p progress
	o := opts(&p)
	o.DryRun = true
	rep, err := Setup(testCtx(t), members, o)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if !rep.Changed || rep.Verified {
		t.Errorf("dry run report: Changed %v Verified %v; want changes pending, not verified", rep.Changed, rep.Verified)
	}
	if len(p.grep("CHANGED")) != 0 || len(p.grep("node2: WOULD   connection 'node1' from 10.0.0.1:3306")) != 1 {
		t.Errorf("dry run progress should say WOULD, never CHANGED:\n%s", &p)
	}
	for i, a := range agents {
		if a.snapshot() != before[i] {
			t.Errorf("%s changed in a dry run", a.name)
		}
		for _, r := range a.configured() {
			if !r.GetDryRun() {
				t.Errorf("%s got a request without dry_run: %v", a.name, r)
			}
		}
		if len(a.verified()) != 0 {
			t.Errorf("%s: a dry run wrote or read markers", a.name)
		}
	}
}

func TestSetup_PrimaryReplicaReplicatesFromTheFirstNodeOnly(t *testing.T) {
	agents := newLab(3)
	members := startAgents(t, agents...)
	o := opts(&progress{})
	o.Mode = PrimaryReplica
	rep, err := Setup(testCtx(t), members, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range agents {
		reqs := a.configured()
		last := reqs[len(reqs)-1]
		s := last.GetSettings()
		if s.GetGtidDomainId() != uint32(i+1) || s.GetAutoIncrementIncrement() != 0 || s.GetAutoIncrementOffset() != 0 {
			t.Errorf("%s settings %v: want domain %d and no auto-increment settings", a.name, s, i+1)
		}
		var from []string
		for _, src := range last.GetSources() {
			from = append(from, src.GetConnectionName()+"@"+src.GetHost())
		}
		want := "node1@10.0.0.1"
		if i == 0 {
			want = ""
		}
		if strings.Join(from, ",") != want {
			t.Errorf("%s replicates from %q, want %q", a.name, from, want)
		}
		var wrote int
		for _, v := range a.verified() {
			if v.GetWriteMarker() != "" {
				wrote++
			}
		}
		if (i == 0) != (wrote == 1) || wrote > 1 {
			t.Errorf("%s wrote %d markers; only the primary writes one", a.name, wrote)
		}
	}
	if cnf := rep.Nodes[2].MyCnf(); strings.Contains(cnf, "auto_increment") || !strings.Contains(cnf, "gtid_domain_id = 3\n") {
		t.Errorf("node3 my.cnf:\n%s", cnf)
	}
}

func TestSetup_MasterMasterOfThree(t *testing.T) {
	agents := newLab(3)
	members := startAgents(t, agents...)
	if _, err := Setup(testCtx(t), members, opts(&progress{})); err != nil {
		t.Fatal(err)
	}
	for i, a := range agents {
		reqs := a.configured()
		last := reqs[len(reqs)-1]
		if s := last.GetSettings(); s.GetAutoIncrementIncrement() != 3 || s.GetAutoIncrementOffset() != uint32(i+1) {
			t.Errorf("%s: auto_increment %d/%d, want 3/%d", a.name, s.GetAutoIncrementIncrement(), s.GetAutoIncrementOffset(), i+1)
		}
		var from []string
		for _, src := range last.GetSources() {
			from = append(from, src.GetConnectionName())
		}
		var want []string
		for _, m := range members {
			if m.Name != a.name {
				want = append(want, m.Name)
			}
		}
		if strings.Join(from, ",") != strings.Join(want, ",") {
			t.Errorf("%s replicates from %v, want %v", a.name, from, want)
		}
	}
}

func seedLab(t *testing.T) ([]*fakeAgent, []Member) {
	agents := newLab(2)
	agents[0].databases = []string{"app", "shop"}
	agents[0].dump = bytes.Repeat([]byte("INSERT INTO t VALUES (1);\n"), 100) // 2600 bytes, 3 chunks
	return agents, startAgents(t, agents...)
}

func TestSetup_SeedLoadsTheDumpOnceBeforeConnections(t *testing.T) {
	agents, members := seedLab(t)
	var p progress
	o := opts(&p)
	o.SeedFrom, o.Force = "node1", true
	if _, err := Setup(testCtx(t), members, o); err != nil {
		t.Fatalf("Setup: %v\n%s", err, &p)
	}
	loaded, force := agents[1].load()
	if !bytes.Equal(loaded, agents[0].dump) {
		t.Errorf("node2 loaded %d bytes, want node1's %d-byte dump", len(loaded), len(agents[0].dump))
	}
	if src, _ := agents[0].load(); len(src) != 0 {
		t.Errorf("the seed source node1 was loaded into")
	}
	if f := force; len(f) != 3 || !f[0] || f[1] || f[2] {
		t.Errorf("force flags per chunk %v, want only the first set", f)
	}
	seedLine := "node2: CHANGED seed: loaded app, shop from node1 (2600 bytes), gtid_slave_pos 1-1-42"
	text := p.String()
	i, j := strings.Index(text, seedLine), strings.Index(text, "node2: CHANGED connection 'node1'")
	if i < 0 || j < 0 || i > j {
		t.Errorf("want %q before node2's connection starts:\n%s", seedLine, text)
	}

	// Re-run: node2 replicates from node1 now, so it is not seeded again.
	var again progress
	if _, err := Setup(testCtx(t), members, Options{ReplUser: "repl", ReplPassword: replPassword, ReplHost: "10.0.0.%",
		Timeout: 5 * time.Second, Out: again.out, SeedFrom: "node1"}); err != nil {
		t.Fatal(err)
	}
	if loaded, _ := agents[1].load(); len(again.grep("node2: ok      seed: already replicates from node1; not seeding")) != 1 || len(loaded) != 2600 {
		t.Errorf("re-run seeded again (%d bytes loaded):\n%s", len(loaded), &again)
	}
}

func TestSetup_UnknownSeedSourceChangesNothing(t *testing.T) {
	agents, members := seedLab(t)
	o := opts(&progress{})
	o.SeedFrom = "node9"
	_, err := Setup(testCtx(t), members, o)
	if !errors.Is(err, ErrPreflight) || !strings.Contains(err.Error(), "--seed-from node9 is not one of the selected nodes") {
		t.Fatalf("Setup = %v; want ErrPreflight naming node9", err)
	}
	// ErrPreflight promises that nothing was changed.
	for _, a := range agents {
		if n := len(a.configured()); n != 0 {
			t.Errorf("%s got %d ConfigureReplication calls before the bad --seed-from was refused", a.name, n)
		}
	}
	// A dry run checks it too.
	o.DryRun = true
	if _, err := Setup(testCtx(t), members, o); !errors.Is(err, ErrPreflight) {
		t.Errorf("dry run with a bad --seed-from = %v; want ErrPreflight", err)
	}
}

func TestSetup_FailedLoadStopsTheDump(t *testing.T) {
	agents, members := seedLab(t)
	agents[0].dump = bytes.Repeat([]byte("x"), 24<<20) // far more than the flow-control windows hold
	agents[0].chunk = 64 << 10
	agents[0].dumpDone = make(chan error, 1)
	agents[1].loadErr = status.Error(codes.FailedPrecondition, "replication needs attention: MariaDB at 10.0.0.2:3306 already has databases (app)")
	o := opts(&progress{})
	o.SeedFrom = "node1"
	_, err := Setup(testCtx(t), members, o)
	want := "seeding node2 from node1: load: rpc error: code = FailedPrecondition desc = replication needs attention: MariaDB at 10.0.0.2:3306 already has databases (app)"
	if err == nil || err.Error() != want {
		t.Fatalf("Setup = %v\nwant %s", err, want)
	}
	// The dump on node1 must not be left blocked on a stream nobody reads.
	select {
	case derr := <-agents[0].dumpDone:
		if status.Code(derr) != codes.Canceled {
			t.Errorf("the dump ended with %v, want Canceled", derr)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("node1's dump still runs 3s after Setup gave up on it")
	}
}

func TestSetup_FailedDumpStopsTheLoad(t *testing.T) {
	agents, members := seedLab(t)
	agents[0].dumpErr = status.Error(codes.Internal, "mariadb-dump of 10.0.0.1:3306 failed: exit status 2")
	agents[1].loadDone = make(chan error, 1)
	o := opts(&progress{})
	o.SeedFrom = "node1"
	_, err := Setup(testCtx(t), members, o)
	want := "seeding node2 from node1: dump: rpc error: code = Internal desc = mariadb-dump of 10.0.0.1:3306 failed: exit status 2"
	if err == nil || err.Error() != want {
		t.Fatalf("Setup = %v\nwant %s", err, want)
	}
	// node2 must learn that the dump is incomplete rather than wait for more.
	select {
	case lerr := <-agents[1].loadDone:
		if status.Code(lerr) != codes.Canceled {
			t.Errorf("the load ended with %v, want Canceled", lerr)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("node2's load still waits 3s after Setup gave up on the dump")
	}
	if reqs := agents[1].configured(); len(reqs) != 1 {
		t.Errorf("node2 got %d ConfigureReplication calls; the connections must not start after a failed seed", len(reqs))
	}
}

func TestExplain(t *testing.T) {
	base := func() *agentv1.ReplicationConnection {
		return &agentv1.ReplicationConnection{ConnectionName: "node1", MasterHost: "10.0.0.1", MasterPort: 3306, IoRunning: "Connecting", SqlRunning: "Yes"}
	}
	const head = "connection 'node1' from 10.0.0.1:3306: IO Connecting, SQL Yes"
	cases := []struct {
		name        string
		io, sql     uint32
		ioMsg, sMsg string
		want        string
	}{
		{"no error", 0, 0, "", "", head},
		{"1045", 1045, 0, "Access denied", "", head + "; the master refused the replication user (error 1045: Access denied): re-run `labcontroller replication setup` to reset the password on both sides"},
		{"2003", 2003, 0, "Can't connect", "", head + "; cannot reach the master (error 2003: Can't connect): check that MariaDB there listens on 10.0.0.1:3306 (bind-address) and no firewall blocks it"},
		{"2013", 2013, 0, "Lost connection", "", head + "; cannot reach the master (error 2013: Lost connection): check that MariaDB there listens on 10.0.0.1:3306 (bind-address) and no firewall blocks it"},
		{"1236", 1236, 0, "binlog purged", "", head + "; the master no longer has the binlog this replica needs (error 1236: binlog purged): reseed this node from the master"},
		{"other IO", 1593, 0, "fatal", "", head + "; IO error 1593: fatal"},
		{"1062", 0, 1062, "", "Duplicate entry '1'", head + "; a row written on both nodes collides (error 1062: Duplicate entry '1'): decide which copy wins, fix the row on this node, then re-run setup"},
		{"other SQL", 0, 1032, "", "Can't find record", head + "; SQL error 1032: Can't find record"},
		{"both", 2003, 1062, "down", "dup", head + "; cannot reach the master (error 2003: down): check that MariaDB there listens on 10.0.0.1:3306 (bind-address) and no firewall blocks it" +
			"; a row written on both nodes collides (error 1062: dup): decide which copy wins, fix the row on this node, then re-run setup"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := base()
			conn.LastIoErrno, conn.LastIoError, conn.LastSqlErrno, conn.LastSqlError = c.io, c.ioMsg, c.sql, c.sMsg
			if got := Explain(conn); got != c.want {
				t.Errorf("Explain:\n got  %s\n want %s", got, c.want)
			}
		})
	}
}
