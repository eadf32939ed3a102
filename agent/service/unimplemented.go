package service

import (
	"context"

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

// ConfigureReplication is not implemented yet.
func (s *Service) ConfigureReplication(context.Context, *agentv1.ConfigureReplicationRequest) (*agentv1.ConfigureReplicationResponse, error) {
	return nil, notYet("MariaDB replication setup (ConfigureReplication)")
}

// GetReplicationStatus is not implemented yet.
func (s *Service) GetReplicationStatus(context.Context, *agentv1.GetReplicationStatusRequest) (*agentv1.GetReplicationStatusResponse, error) {
	return nil, notYet("MariaDB replication status (GetReplicationStatus)")
}
