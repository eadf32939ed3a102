package replication

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/labfleet/labfleet/internal/agentclient"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// fakeLab is what the fake agents share: the marker rows, each with the
// node that wrote it, so that a node "receives" a marker only when it has a
// running connection named after the writer.
type fakeLab struct {
	mu      sync.Mutex
	markers map[string]string
}

// fakeAgent is an agent whose MariaDB is a few fields: the replication
// facts, the account and the named connections. It answers the four
// replication RPCs the way the real agent does (idempotent, with the same
// change actions) and records every ConfigureReplication request.
type fakeAgent struct {
	agentv1.UnimplementedAgentServiceServer
	name string
	lab  *fakeLab

	mu    sync.Mutex
	facts *agentv1.ServerFacts
	user  *agentv1.ReplicationUser
	conns map[string]*agentv1.ReplicationConnection

	configures []*agentv1.ConfigureReplicationRequest
	verifies   []*agentv1.VerifyReplicationRequest

	statusErr    error  // GetReplicationStatus fails with it
	configureErr error  // ConfigureReplication fails with it
	ioErrno      uint32 // connections never start: IO thread fails with this error
	deaf         bool   // never receives markers

	// Seeding.
	databases []string
	dump      []byte // what DumpDatabases streams, in chunks of chunk bytes (default 1 KiB)
	chunk     int
	dumpDone  chan error
	dumpErr   error // DumpDatabases fails with it after the first chunk
	loadErr   error // LoadDump fails with it after the first chunk
	loadDone  chan error
	loaded    []byte
	loadForce []bool // the Force flag of every received chunk
}

func newFakeAgent(lab *fakeLab, name string, serverID uint32) *fakeAgent {
	return &fakeAgent{name: name, lab: lab, conns: map[string]*agentv1.ReplicationConnection{},
		facts: &agentv1.ServerFacts{Version: "10.11.6-MariaDB", ServerId: serverID, LogBin: true, LogSlaveUpdates: true,
			BinlogFormat: "MIXED", AutoIncrementIncrement: 1, AutoIncrementOffset: 1}}
}

func (a *fakeAgent) GetReplicationStatus(_ context.Context, req *agentv1.GetReplicationStatusRequest) (*agentv1.GetReplicationStatusResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.statusErr != nil {
		return nil, a.statusErr
	}
	return a.statusLocked(req.GetConnectionName()), nil
}

func (a *fakeAgent) statusLocked(name string) *agentv1.GetReplicationStatusResponse {
	resp := &agentv1.GetReplicationStatusResponse{Server: clone(a.facts)}
	var names []string
	for n := range a.conns {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if name == "" || n == name {
			resp.Connections = append(resp.Connections, clone(a.conns[n]))
		}
	}
	return resp
}

func (a *fakeAgent) ConfigureReplication(_ context.Context, req *agentv1.ConfigureReplicationRequest) (*agentv1.ConfigureReplicationResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.configures = append(a.configures, clone(req))
	if a.configureErr != nil {
		return nil, a.configureErr
	}
	if !a.facts.GetLogBin() {
		return nil, status.Error(codes.FailedPrecondition, "MariaDB is not ready for replication: log_bin is OFF")
	}
	dry := req.GetDryRun()
	var changes []*agentv1.ReplicationChange
	set := func(name string, have *uint32, want uint32) {
		if want == 0 {
			return
		}
		c := &agentv1.ReplicationChange{Action: "set " + name, Detail: fmt.Sprint(want) + " already"}
		if *have != want {
			c.Detail, c.Changed = fmt.Sprintf("%d -> %d", *have, want), true
			if !dry {
				*have = want
			}
		}
		changes = append(changes, c)
	}
	if s := req.GetSettings(); s != nil {
		set("gtid_domain_id", &a.facts.GtidDomainId, s.GetGtidDomainId())
		set("auto_increment_increment", &a.facts.AutoIncrementIncrement, s.GetAutoIncrementIncrement())
		set("auto_increment_offset", &a.facts.AutoIncrementOffset, s.GetAutoIncrementOffset())
		if f := s.GetBinlogFormat(); f != "" {
			c := &agentv1.ReplicationChange{Action: "set binlog_format", Detail: f + " already"}
			if a.facts.BinlogFormat != f {
				c.Detail, c.Changed = a.facts.BinlogFormat+" -> "+f, true
				if !dry {
					a.facts.BinlogFormat = f
				}
			}
			changes = append(changes, c)
		}
	}
	if u := req.GetUser(); u != nil {
		c := &agentv1.ReplicationChange{Action: fmt.Sprintf("replication user '%s'@'%s'", u.GetName(), u.GetHost()), Detail: "exists with the right password"}
		if a.user == nil || a.user.GetName() != u.GetName() || a.user.GetPassword() != u.GetPassword() || a.user.GetHost() != u.GetHost() {
			c.Detail, c.Changed = "created", true
			if !dry {
				a.user = clone(u)
			}
		}
		changes = append(changes, c)
	}
	for _, s := range req.GetSources() {
		c := &agentv1.ReplicationChange{Action: fmt.Sprintf("connection '%s' from %s:%d", s.GetConnectionName(), s.GetHost(), s.GetPort()), Detail: "running"}
		cur := a.conns[s.GetConnectionName()]
		if cur == nil || cur.GetMasterHost() != s.GetHost() || cur.GetMasterPort() != s.GetPort() || cur.GetMasterUser() != s.GetUser() ||
			cur.GetIoRunning() != "Yes" || cur.GetSqlRunning() != "Yes" {
			c.Detail, c.Changed = "created with MASTER_USE_GTID=slave_pos and started", true
			if !dry {
				conn := &agentv1.ReplicationConnection{ConnectionName: s.GetConnectionName(), MasterHost: s.GetHost(), MasterPort: s.GetPort(),
					MasterUser: s.GetUser(), IoRunning: "Yes", SqlRunning: "Yes", UsingGtid: "Slave_Pos"}
				if a.ioErrno != 0 {
					conn.IoRunning, conn.LastIoErrno, conn.LastIoError = "Connecting", a.ioErrno, "Access denied for user 'repl'"
				}
				a.conns[s.GetConnectionName()] = conn
			}
		}
		changes = append(changes, c)
	}
	return &agentv1.ConfigureReplicationResponse{Changes: changes, Status: a.statusLocked("")}, nil
}

func (a *fakeAgent) VerifyReplication(_ context.Context, req *agentv1.VerifyReplicationRequest) (*agentv1.VerifyReplicationResponse, error) {
	a.mu.Lock()
	a.verifies = append(a.verifies, clone(req))
	conns := map[string]bool{}
	for n, c := range a.conns {
		conns[n] = c.GetIoRunning() == "Yes" && c.GetSqlRunning() == "Yes"
	}
	deaf := a.deaf
	a.mu.Unlock()

	a.lab.mu.Lock()
	defer a.lab.mu.Unlock()
	if m := req.GetWriteMarker(); m != "" {
		a.lab.markers[m] = a.name
	}
	resp := &agentv1.VerifyReplicationResponse{}
	for _, m := range req.GetReadMarkers() {
		if w, ok := a.lab.markers[m]; ok && (w == a.name || conns[w] && !deaf) {
			resp.FoundMarkers = append(resp.FoundMarkers, m)
		}
	}
	return resp, nil
}

func (a *fakeAgent) DumpDatabases(_ *agentv1.DumpDatabasesRequest, stream grpc.ServerStreamingServer[agentv1.DumpDatabasesResponse]) error {
	size := a.chunk
	if size == 0 {
		size = 1024
	}
	err := func() error {
		for i := 0; i < len(a.dump); i += size {
			msg := &agentv1.DumpDatabasesResponse{Chunk: a.dump[i:min(i+size, len(a.dump))]}
			if i == 0 {
				msg.Databases = a.databases
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			if a.dumpErr != nil {
				return a.dumpErr
			}
		}
		return nil
	}()
	if a.dumpDone != nil {
		a.dumpDone <- err
	}
	return err
}

func (a *fakeAgent) LoadDump(stream grpc.ClientStreamingServer[agentv1.LoadDumpRequest, agentv1.LoadDumpResponse]) (err error) {
	if a.loadDone != nil {
		defer func() { a.loadDone <- err }()
	}
	var n int64
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.loaded = append(a.loaded, msg.GetChunk()...)
		a.loadForce = append(a.loadForce, msg.GetForce())
		loadErr := a.loadErr
		a.mu.Unlock()
		n += int64(len(msg.GetChunk()))
		if loadErr != nil {
			return loadErr
		}
	}
	return stream.SendAndClose(&agentv1.LoadDumpResponse{Bytes: n, GtidSlavePos: "1-1-42"})
}

// configured returns the ConfigureReplication requests received so far.
func (a *fakeAgent) configured() []*agentv1.ConfigureReplicationRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*agentv1.ConfigureReplicationRequest(nil), a.configures...)
}

// verified returns the VerifyReplication requests received so far.
func (a *fakeAgent) verified() []*agentv1.VerifyReplicationRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*agentv1.VerifyReplicationRequest(nil), a.verifies...)
}

// load returns what LoadDump received: the bytes and each chunk's Force flag.
func (a *fakeAgent) load() ([]byte, []bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]byte(nil), a.loaded...), append([]bool(nil), a.loadForce...)
}

// snapshot is the fake server's state, to compare before and after.
func (a *fakeAgent) snapshot() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return fmt.Sprintf("%v|%v|%v", a.facts, a.user, a.statusLocked("").GetConnections())
}

// startAgents serves each fake agent on its own loopback port and returns
// members connected to them through agentclient, as labcontroller does.
func startAgents(t *testing.T, agents ...*fakeAgent) []Member {
	t.Helper()
	var members []Member
	for i, a := range agents {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer()
		agentv1.RegisterAgentServiceServer(gs, a)
		go func() { _ = gs.Serve(lis) }()
		c, err := agentclient.Dial(agentclient.Options{Addr: lis.Addr().String(), Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.Close()
			gs.Stop()
		})
		members = append(members, Member{Name: a.name, DBHost: fmt.Sprintf("10.0.0.%d", i+1), DBPort: 3306, Agent: c.Agent})
	}
	return members
}

// newLab makes n fake agents node1..nodeN with server_ids 1..n.
func newLab(n int) []*fakeAgent {
	lab := &fakeLab{markers: map[string]string{}}
	var out []*fakeAgent
	for i := 1; i <= n; i++ {
		out = append(out, newFakeAgent(lab, fmt.Sprintf("node%d", i), uint32(i)))
	}
	return out
}

// progress collects Options.Out lines as "node: msg".
type progress struct {
	mu    sync.Mutex
	lines []string
}

func (p *progress) out(node, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, node+": "+msg)
}

func (p *progress) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// grep returns the lines containing s.
func (p *progress) grep(s string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

func clone[M proto.Message](m M) M { return proto.Clone(m).(M) }
