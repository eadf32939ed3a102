package service

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/labfleet/labfleet/agent/nodestats"
	"github.com/labfleet/labfleet/internal/mariadb"
	"github.com/labfleet/labfleet/internal/version"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

type fakeEngine struct {
	engine, api string
	err         error
}

func (f fakeEngine) Version(context.Context) (string, string, error) { return f.engine, f.api, f.err }

func wantCode(t *testing.T, what string, err error, code codes.Code, msgPart string) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("%s: code = %v (%v), want %v", what, status.Code(err), err, code)
		return
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, msgPart) {
		t.Errorf("%s: message %q does not contain %q", what, msg, msgPart)
	}
}

func TestGetInfo_ReportsNodeEngineAndCaller(t *testing.T) {
	svc := New("node1", "127.0.0.11", fakeEngine{engine: "28.5.2", api: "1.51"}, nil)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	svc.started = start
	svc.Now = func() time.Time { return start.Add(90*time.Second + 700*time.Millisecond) }
	r, err := serve(t, svc).GetInfo(context.Background(), &agentv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	want := &agentv1.GetInfoResponse{
		AgentVersion: version.String(), NodeName: "node1", Hostname: host, StartedAt: r.GetStartedAt(), Uptime: r.GetUptime(),
		Docker:       &agentv1.DockerInfo{Reachable: true, Version: "28.5.2", ApiVersion: "1.51"},
		Mariadb:      &agentv1.MariaDBInfo{},
		Capabilities: []string{"info"}, PublishIp: "127.0.0.11", Caller: testCaller,
	}
	if !proto.Equal(r, want) {
		t.Errorf("GetInfo\n got: %v\nwant: %v", r, want)
	}
	if !r.GetStartedAt().AsTime().Equal(start) || r.GetUptime().AsDuration() != 90*time.Second {
		t.Errorf("started %v, uptime %v; want %v and 1m30s (whole seconds)", r.GetStartedAt().AsTime(), r.GetUptime().AsDuration(), start)
	}
}

func TestGetInfo_UnreachableEngineAndMariaDBAreReportedNotReturned(t *testing.T) {
	db, err := mariadb.Open(closedAddr(t), "labagent", "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := New("node1", "", fakeEngine{err: errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")}, nil)
	svc.MariaDB = db
	r, err := serve(t, svc).GetInfo(context.Background(), &agentv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d := r.GetDocker(); d.GetReachable() || d.GetError() != "Docker unreachable: Cannot connect to the Docker daemon at unix:///var/run/docker.sock" {
		t.Errorf("docker = %v", d)
	}
	m := r.GetMariadb()
	if !m.GetConfigured() || m.GetReachable() || m.GetAddress() != db.Addr() || !strings.Contains(m.GetError(), "cannot reach MariaDB at "+db.Addr()) {
		t.Errorf("mariadb = %v", m)
	}
}

func TestGetInfo_NoEngineConfigured(t *testing.T) {
	r, err := serve(t, New("node1", "", nil, nil)).GetInfo(context.Background(), &agentv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetDocker().GetReachable() || r.GetDocker().GetError() != "no Docker Engine configured" || r.GetMariadb().GetConfigured() {
		t.Errorf("docker %v, mariadb %v", r.GetDocker(), r.GetMariadb())
	}
}

// procFixture writes a small procfs tree: 2 CPUs, one disk at / and one
// at /srv, and a tmpfs the default disk list leaves out.
func procFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"loadavg":     "0.52 1.07 1.25 3/812 41235\n",
		"cpuinfo":     "processor\t: 0\nmodel name\t: test\n\nprocessor\t: 1\nmodel name\t: test\n",
		"meminfo":     "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    9000000 kB\nSwapTotal:       2000000 kB\nSwapFree:        1500000 kB\n",
		"self/mounts": "/dev/sda2 / ext4 rw,relatime 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/sdb1 /srv xfs rw 0 0\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fixtureStatfs(path string) (nodestats.Fs, error) {
	switch path {
	case "/":
		return nodestats.Fs{Blocks: 1000, Bfree: 400, Bavail: 350, Files: 100, Ffree: 60, Bsize: 4096}, nil
	case "/srv":
		return nodestats.Fs{Blocks: 10, Bfree: 10, Bavail: 10, Bsize: 1 << 20}, nil
	}
	return nodestats.Fs{}, errors.New("unexpected statfs of " + path)
}

func TestGetNodeStats_FromFixture(t *testing.T) {
	svc := New("node1", "", nil, &nodestats.Collector{ProcRoot: procFixture(t), Statfs: fixtureStatfs})
	c := serve(t, svc)
	before := time.Now()
	r, err := c.GetNodeStats(context.Background(), &agentv1.GetNodeStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if at := r.GetCollectedAt().AsTime(); at.Before(before.Add(-time.Second)) || at.After(time.Now()) {
		t.Errorf("collected at %v, want now", at)
	}
	want := &agentv1.GetNodeStatsResponse{
		Load1: 0.52, Load5: 1.07, Load15: 1.25, CpuCount: 2,
		Memory: &agentv1.MemoryStats{TotalBytes: 16000000 << 10, AvailableBytes: 9000000 << 10, UsedBytes: 7000000 << 10,
			SwapTotalBytes: 2000000 << 10, SwapFreeBytes: 1500000 << 10},
		Disks: []*agentv1.DiskUsage{
			{Mount: "/", Device: "/dev/sda2", FsType: "ext4", TotalBytes: 1000 * 4096, UsedBytes: 600 * 4096, AvailableBytes: 350 * 4096,
				InodesTotal: 100, InodesUsed: 40},
			{Mount: "/srv", Device: "/dev/sdb1", FsType: "xfs", TotalBytes: 10 << 20, AvailableBytes: 10 << 20},
		},
		CollectedAt: r.GetCollectedAt(),
	}
	if !proto.Equal(r, want) {
		t.Errorf("GetNodeStats\n got: %v\nwant: %v", r, want)
	}

	one, err := c.GetNodeStats(context.Background(), &agentv1.GetNodeStatsRequest{Mounts: []string{"/srv"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(one.GetDisks()) != 1 || one.GetDisks()[0].GetMount() != "/srv" {
		t.Errorf("disks for /srv = %v", one.GetDisks())
	}
}

func TestGetNodeStats_Errors(t *testing.T) {
	c := serve(t, New("node1", "", nil, &nodestats.Collector{ProcRoot: procFixture(t), Statfs: fixtureStatfs}))
	_, err := c.GetNodeStats(context.Background(), &agentv1.GetNodeStatsRequest{Mounts: []string{"/nope"}})
	wantCode(t, "unknown mount", err, codes.NotFound, "cannot report disk /nope: not a mount point")

	empty := t.TempDir()
	c = serve(t, New("node1", "", nil, &nodestats.Collector{ProcRoot: empty, Statfs: fixtureStatfs}))
	_, err = c.GetNodeStats(context.Background(), &agentv1.GetNodeStatsRequest{})
	wantCode(t, "no procfs", err, codes.Internal, "cannot collect node stats: cannot read "+filepath.Join(empty, "loadavg"))
}

func TestDeployHandlers_NotInThisBuild(t *testing.T) {
	c := serve(t, New("node1", "", nil, nil))
	ctx := context.Background()
	d, err := c.Deploy(ctx, &agentv1.DeployRequest{App: "todo", Image: "todo:v1"})
	if err == nil {
		_, err = d.Recv()
	}
	wantCode(t, "Deploy", err, codes.Unimplemented, "container deploys (Deploy) is not available in labagent")
	r, err := c.Rollback(ctx, &agentv1.RollbackRequest{App: "todo"})
	if err == nil {
		_, err = r.Recv()
	}
	wantCode(t, "Rollback", err, codes.Unimplemented, "container rollbacks (Rollback) is not available")
	_, err = c.GetApp(ctx, &agentv1.GetAppRequest{App: "todo"})
	wantCode(t, "GetApp", err, codes.Unimplemented, "app status (GetApp) is not available")
	_, err = c.ListApps(ctx, &agentv1.ListAppsRequest{})
	wantCode(t, "ListApps", err, codes.Unimplemented, "app status (ListApps) is not available")
	_, err = c.GetHistory(ctx, &agentv1.GetHistoryRequest{})
	wantCode(t, "GetHistory", err, codes.Unimplemented, "deploy history (GetHistory) is not available")
}

func TestReplicationHandlers_WithoutMariaDB(t *testing.T) {
	c := serve(t, New("node1", "", nil, nil))
	ctx := context.Background()
	const want = "this agent has no MariaDB configured: start labagent with --mariadb-addr"
	_, err := c.GetReplicationStatus(ctx, &agentv1.GetReplicationStatusRequest{})
	wantCode(t, "GetReplicationStatus", err, codes.FailedPrecondition, want)
	_, err = c.ConfigureReplication(ctx, &agentv1.ConfigureReplicationRequest{})
	wantCode(t, "ConfigureReplication", err, codes.FailedPrecondition, want)
	_, err = c.VerifyReplication(ctx, &agentv1.VerifyReplicationRequest{WriteMarker: "m1"})
	wantCode(t, "VerifyReplication", err, codes.FailedPrecondition, want)
	d, err := c.DumpDatabases(ctx, &agentv1.DumpDatabasesRequest{})
	if err == nil {
		_, err = d.Recv()
	}
	wantCode(t, "DumpDatabases", err, codes.FailedPrecondition, want)
	l, err := c.LoadDump(ctx)
	if err == nil {
		_, err = l.CloseAndRecv()
	}
	wantCode(t, "LoadDump", err, codes.FailedPrecondition, want)
}

func TestReplicationHandlers_UnreachableMariaDB(t *testing.T) {
	addr := closedAddr(t)
	db, err := mariadb.Open(addr, "labagent", "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := New("node1", "", nil, nil)
	svc.MariaDB = db
	c := serve(t, svc)
	_, err = c.GetReplicationStatus(context.Background(), &agentv1.GetReplicationStatusRequest{})
	wantCode(t, "GetReplicationStatus", err, codes.Unavailable, "cannot reach MariaDB at "+addr)
	_, err = c.VerifyReplication(context.Background(), &agentv1.VerifyReplicationRequest{ReadMarkers: []string{"m1"}})
	wantCode(t, "VerifyReplication", err, codes.Unavailable, "cannot reach MariaDB at "+addr)
}

func TestChunkWriter_SplitsAt256KiBAndNamesDatabasesOnce(t *testing.T) {
	type msg struct {
		n     int
		first bool
	}
	var sent []msg
	var all bytes.Buffer
	w := &chunkWriter{send: func(b []byte, first bool) error {
		sent = append(sent, msg{len(b), first})
		all.Write(b)
		return nil
	}}
	data := bytes.Repeat([]byte("0123456789abcdef"), (600<<10)/16)
	w.Write(data[:100])
	w.Write(data[100:])
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	want := []msg{{256 << 10, true}, {256 << 10, false}, {88 << 10, false}}
	if len(sent) != len(want) || sent[0] != want[0] || sent[1] != want[1] || sent[2] != want[2] {
		t.Errorf("messages = %v, want %v", sent, want)
	}
	if !bytes.Equal(all.Bytes(), data) {
		t.Error("the chunks do not add up to the dump")
	}

	sent = nil
	empty := &chunkWriter{send: func(b []byte, first bool) error { sent = append(sent, msg{len(b), first}); return nil }}
	empty.flush()
	if len(sent) != 1 || sent[0] != (msg{0, true}) {
		t.Errorf("an empty dump sent %v, want one empty first message (it carries the database list)", sent)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
