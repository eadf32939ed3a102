package service

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/mariadb"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// replicationStatus maps replication errors to gRPC codes.
func replicationStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mariadb.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, mariadb.ErrPrecondition), errors.Is(err, mariadb.ErrConflict):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return toStatus(err)
}

func (s *Service) mariadb() (*mariadb.Manager, error) {
	if s.MariaDB == nil {
		return nil, status.Error(codes.FailedPrecondition,
			"this agent has no MariaDB configured: start labagent with --mariadb-addr HOST:PORT, --mariadb-user and --mariadb-password-file")
	}
	return s.MariaDB, nil
}

// GetReplicationStatus reports server facts and every named connection.
func (s *Service) GetReplicationStatus(ctx context.Context, req *agentv1.GetReplicationStatusRequest) (*agentv1.GetReplicationStatusResponse, error) {
	m, err := s.mariadb()
	if err != nil {
		return nil, err
	}
	resp, err := replicationStatusPB(ctx, m, req.GetConnectionName())
	return resp, replicationStatus(err)
}

func replicationStatusPB(ctx context.Context, m *mariadb.Manager, name string) (*agentv1.GetReplicationStatusResponse, error) {
	f, err := m.Facts(ctx)
	if err != nil {
		return nil, err
	}
	conns, err := m.Connections(ctx, name)
	if err != nil {
		return nil, err
	}
	dbs, err := m.UserDatabases(ctx)
	if err != nil {
		return nil, err
	}
	resp := &agentv1.GetReplicationStatusResponse{Server: &agentv1.ServerFacts{
		GtidBinlogState: f.GtidBinlogState, UserDatabases: dbs, GtidIgnoreDuplicates: f.IgnoreDuplicates,
		Version: f.Version, ServerId: f.ServerID, GtidDomainId: f.DomainID, LogBin: f.LogBin, LogSlaveUpdates: f.LogSlaveUpdates,
		BinlogFormat: f.BinlogFormat, ReadOnly: f.ReadOnly, GtidBinlogPos: f.GtidBinlogPos, GtidSlavePos: f.GtidSlavePos,
		GtidCurrentPos: f.GtidCurrentPos, AutoIncrementIncrement: f.AutoIncIncrement, AutoIncrementOffset: f.AutoIncOffset,
	}}
	for _, c := range conns {
		resp.Connections = append(resp.Connections, &agentv1.ReplicationConnection{
			ConnectionName: c.Name, MasterHost: c.MasterHost, MasterPort: c.MasterPort, MasterUser: c.MasterUser,
			IoRunning: c.IORunning, SqlRunning: c.SQLRunning, SecondsBehindMaster: c.SecondsBehind,
			LastIoErrno: c.LastIOErrno, LastIoError: c.LastIOError, LastSqlErrno: c.LastSQLErrno, LastSqlError: c.LastSQLError,
			UsingGtid: c.UsingGtid, GtidIoPos: c.GtidIOPos, GtidSlavePos: c.GtidSlavePos,
		})
	}
	return resp, nil
}

// ConfigureReplication brings the node's MariaDB to the requested state.
func (s *Service) ConfigureReplication(ctx context.Context, req *agentv1.ConfigureReplicationRequest) (*agentv1.ConfigureReplicationResponse, error) {
	m, err := s.mariadb()
	if err != nil {
		return nil, err
	}
	d := mariadb.Desired{DryRun: req.GetDryRun(), Force: req.GetForce(), StartPos: req.GetStartGtidSlavePos()}
	if st := req.GetSettings(); st != nil {
		d.Settings = &mariadb.Settings{DomainID: st.GetGtidDomainId(), AutoIncIncrement: st.GetAutoIncrementIncrement(),
			AutoIncOffset: st.GetAutoIncrementOffset(), BinlogFormat: st.GetBinlogFormat(), IgnoreDuplicates: st.GetGtidIgnoreDuplicates()}
	}
	if u := req.GetUser(); u != nil {
		d.User = &mariadb.User{Name: u.GetName(), Password: u.GetPassword(), Host: u.GetHost()}
	}
	for _, src := range req.GetSources() {
		d.Sources = append(d.Sources, mariadb.Source{Name: src.GetConnectionName(), Host: src.GetHost(), Port: src.GetPort(),
			User: src.GetUser(), Password: src.GetPassword()})
	}
	changes, err := m.Configure(ctx, d)
	if err != nil {
		return nil, replicationStatus(err)
	}
	resp := &agentv1.ConfigureReplicationResponse{}
	for _, c := range changes {
		resp.Changes = append(resp.Changes, &agentv1.ReplicationChange{Action: c.Action, Detail: c.Detail, Changed: c.Changed})
	}
	resp.Status, err = replicationStatusPB(ctx, m, "")
	return resp, replicationStatus(err)
}

// VerifyReplication writes a marker and reports the markers found.
func (s *Service) VerifyReplication(ctx context.Context, req *agentv1.VerifyReplicationRequest) (*agentv1.VerifyReplicationResponse, error) {
	m, err := s.mariadb()
	if err != nil {
		return nil, err
	}
	found, err := m.Markers(ctx, req.GetWriteMarker(), req.GetReadMarkers(), req.GetMarkerGtid())
	if err != nil {
		return nil, replicationStatus(err)
	}
	return &agentv1.VerifyReplicationResponse{FoundMarkers: found}, nil
}

// DumpDatabases streams a dump of the node's own databases.
func (s *Service) DumpDatabases(_ *agentv1.DumpDatabasesRequest, stream grpc.ServerStreamingServer[agentv1.DumpDatabasesResponse]) error {
	m, err := s.mariadb()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	dbs, err := m.UserDatabases(ctx)
	if err != nil {
		return replicationStatus(err)
	}
	w := &chunkWriter{send: func(b []byte, first bool) error {
		msg := &agentv1.DumpDatabasesResponse{Chunk: b}
		if first {
			msg.Databases = dbs
		}
		return stream.Send(msg)
	}}
	if err := m.Dump(ctx, dbs, w); err != nil {
		return replicationStatus(err)
	}
	return w.flush()
}

// LoadDump loads a dump streamed by the caller.
func (s *Service) LoadDump(stream grpc.ClientStreamingServer[agentv1.LoadDumpRequest, agentv1.LoadDumpResponse]) error {
	m, err := s.mariadb()
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "no dump received: %v", err)
	}
	pr, pw := io.Pipe()
	go func() {
		if _, err := pw.Write(first.GetChunk()); err != nil {
			return
		}
		for {
			msg, err := stream.Recv()
			if err == io.EOF {
				pw.Close()
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := pw.Write(msg.GetChunk()); err != nil {
				return
			}
		}
	}()
	pos, n, err := m.Load(stream.Context(), pr, first.GetForce())
	pr.Close()
	if err != nil {
		return replicationStatus(err)
	}
	return stream.SendAndClose(&agentv1.LoadDumpResponse{Bytes: n, GtidSlavePos: pos})
}

// ChecksumTables checksums the node's own tables between two reads of
// gtid_binlog_pos; it changes nothing.
func (s *Service) ChecksumTables(ctx context.Context, req *agentv1.ChecksumTablesRequest) (*agentv1.ChecksumTablesResponse, error) {
	m, err := s.mariadb()
	if err != nil {
		return nil, err
	}
	sums, err := m.Checksum(ctx, req.GetDatabases(), req.GetLockWait().AsDuration())
	if err != nil {
		return nil, replicationStatus(err)
	}
	resp := &agentv1.ChecksumTablesResponse{GtidBinlogPosBefore: sums.Before, GtidBinlogPosAfter: sums.After, Databases: sums.Databases}
	for _, t := range sums.Tables {
		resp.Tables = append(resp.Tables, &agentv1.TableChecksum{Database: t.Database, Table: t.Table, Checksum: t.Checksum,
			Rows: t.Rows, HasPrimaryKey: t.HasPrimaryKey, Error: t.Err})
	}
	return resp, nil
}

// chunkWriter turns a byte stream into messages of at most 256 KiB.
type chunkWriter struct {
	buf  []byte
	sent bool
	send func(b []byte, first bool) error
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for len(c.buf) >= 256<<10 {
		if err := c.send(c.buf[:256<<10], !c.sent); err != nil {
			return 0, err
		}
		c.sent = true
		c.buf = append([]byte(nil), c.buf[256<<10:]...)
	}
	return len(p), nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 && c.sent {
		return nil
	}
	err := c.send(c.buf, !c.sent)
	c.sent, c.buf = true, nil
	return err
}
