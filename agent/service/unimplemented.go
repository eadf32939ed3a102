package service

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/version"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// The RPCs below belong to capabilities this agent build does not have yet.
// They answer Unimplemented with a message a person can act on, rather than
// gRPC's bare "method X not implemented".

func notYet(capability string) error {
	return status.Errorf(codes.Unimplemented,
		"%s is not available in labagent %s yet (its capability is not in this build's GetInfo capabilities); upgrade the agent when it lands",
		capability, version.String())
}

// Deploy is not implemented yet.
func (s *Service) Deploy(*agentv1.DeployRequest, grpc.ServerStreamingServer[agentv1.DeployResponse]) error {
	return notYet("container deploys (Deploy)")
}

// Rollback is not implemented yet.
func (s *Service) Rollback(*agentv1.RollbackRequest, grpc.ServerStreamingServer[agentv1.RollbackResponse]) error {
	return notYet("container rollbacks (Rollback)")
}

// GetApp is not implemented yet.
func (s *Service) GetApp(context.Context, *agentv1.GetAppRequest) (*agentv1.GetAppResponse, error) {
	return nil, notYet("app status (GetApp)")
}

// ListApps is not implemented yet.
func (s *Service) ListApps(context.Context, *agentv1.ListAppsRequest) (*agentv1.ListAppsResponse, error) {
	return nil, notYet("app status (ListApps)")
}

// GetHistory is not implemented yet.
func (s *Service) GetHistory(context.Context, *agentv1.GetHistoryRequest) (*agentv1.GetHistoryResponse, error) {
	return nil, notYet("deploy history (GetHistory)")
}

// ConfigureReplication is not implemented yet.
func (s *Service) ConfigureReplication(context.Context, *agentv1.ConfigureReplicationRequest) (*agentv1.ConfigureReplicationResponse, error) {
	return nil, notYet("MariaDB replication setup (ConfigureReplication)")
}

// GetReplicationStatus is not implemented yet.
func (s *Service) GetReplicationStatus(context.Context, *agentv1.GetReplicationStatusRequest) (*agentv1.GetReplicationStatusResponse, error) {
	return nil, notYet("MariaDB replication status (GetReplicationStatus)")
}
