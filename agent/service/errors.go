package service

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/policy"
	"github.com/labfleet/labfleet/internal/version"
)

// toStatus maps domain errors to gRPC codes, in one place.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, policy.ErrDenied):
		code = codes.PermissionDenied
	case errors.Is(err, policy.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, deploy.ErrLocked):
		code = codes.Aborted
	case errors.Is(err, deploy.ErrUnavailable):
		code = codes.Unavailable
	case errors.Is(err, deploy.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, deploy.ErrCorruptState):
		// A quarantined journal or history: the operator's repair comes first.
		code = codes.FailedPrecondition
	case errors.Is(err, deploy.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

// invalidEnum refuses an enum value this agent does not know, which a
// newer client may send.
func invalidEnum(field string, v int32) error {
	return status.Errorf(codes.InvalidArgument, "invalid %s: value %d is unknown to this agent (labagent %s); upgrade the agent or leave the option unset", field, v, version.String())
}
