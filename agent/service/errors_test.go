package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/policy"
	"github.com/labfleet/labfleet/internal/mariadb"
	"github.com/labfleet/labfleet/internal/version"
)

func TestToStatus_MapsEveryDomainError(t *testing.T) {
	tests := []struct {
		sentinel error
		want     codes.Code
	}{
		{deploy.ErrLocked, codes.Aborted},
		{deploy.ErrUnavailable, codes.Unavailable},
		{deploy.ErrNotFound, codes.NotFound},
		{deploy.ErrInvalid, codes.InvalidArgument},
		{policy.ErrDenied, codes.PermissionDenied},
		{policy.ErrInvalid, codes.InvalidArgument},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{errors.New("disk full"), codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			// Wrapped twice, as the engine's layers do.
			err := fmt.Errorf("an earlier deploy of todo is unfinished: %w", fmt.Errorf("todo: %w", tt.sentinel))
			got := toStatus(err)
			if status.Code(got) != tt.want {
				t.Errorf("toStatus(%v) code = %v, want %v", err, status.Code(got), tt.want)
			}
			if msg := status.Convert(got).Message(); msg != err.Error() {
				t.Errorf("message = %q, want the domain error's own %q", msg, err.Error())
			}
		})
	}
}

func TestToStatus_KeepsStatusErrorsAndNil(t *testing.T) {
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) is not nil")
	}
	in := status.Error(codes.FailedPrecondition, "already a status")
	if got := toStatus(in); got != in {
		t.Errorf("toStatus(status error) = %v, want it unchanged", got)
	}
	// An Unknown status says nothing; it is mapped like any other error.
	if got := toStatus(status.Error(codes.Unknown, "boom")); status.Code(got) != codes.Internal {
		t.Errorf("toStatus(Unknown) code = %v, want Internal", status.Code(got))
	}
}

func TestReplicationStatus_MapsMariaDBErrors(t *testing.T) {
	tests := []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("%w: cannot reach MariaDB at 127.0.0.1:3306", mariadb.ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("%w: log_bin is OFF", mariadb.ErrPrecondition), codes.FailedPrecondition},
		{fmt.Errorf("%w: connection node2 has a different master", mariadb.ErrConflict), codes.FailedPrecondition},
		// What replication does not know goes through toStatus.
		{fmt.Errorf("markers: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{errors.New("MariaDB error 1064: syntax"), codes.Internal},
	}
	for _, tt := range tests {
		got := replicationStatus(tt.err)
		if status.Code(got) != tt.want {
			t.Errorf("replicationStatus(%v) code = %v, want %v", tt.err, status.Code(got), tt.want)
		}
		if msg := status.Convert(got).Message(); msg != tt.err.Error() {
			t.Errorf("message = %q, want %q", msg, tt.err.Error())
		}
	}
	if replicationStatus(nil) != nil {
		t.Error("replicationStatus(nil) is not nil")
	}
}

func TestNotYet_SaysWhatIsMissingAndWhatToDo(t *testing.T) {
	err := notYet("container deploys (Deploy)")
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("code = %v, want Unimplemented", status.Code(err))
	}
	msg := status.Convert(err).Message()
	for _, want := range []string{"container deploys (Deploy) is not available in labagent " + version.String(), "upgrade the agent"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
}

func TestInvalidEnum_NamesFieldAndValue(t *testing.T) {
	err := invalidEnum("pull_policy", 9)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("code = %v, want InvalidArgument", status.Code(err))
	}
	if msg := status.Convert(err).Message(); !strings.HasPrefix(msg, "invalid pull_policy: value 9 is unknown to this agent") {
		t.Errorf("message = %q", msg)
	}
}
