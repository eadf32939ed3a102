package service

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/version"
)

// The RPCs below belong to capabilities this agent build does not have yet.
// They answer Unimplemented with a message a person can act on, rather than
// gRPC's bare "method X not implemented".

func notYet(capability string) error {
	return status.Errorf(codes.Unimplemented,
		"%s is not available in labagent %s yet (its capability is not in this build's GetInfo capabilities); upgrade the agent when it lands",
		capability, version.String())
}
