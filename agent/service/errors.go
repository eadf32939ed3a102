package service

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/deploy"
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
	case errors.Is(err, deploy.ErrLocked):
		code = codes.Aborted
	case errors.Is(err, deploy.ErrUnavailable):
		code = codes.Unavailable
	case errors.Is(err, deploy.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, deploy.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}
