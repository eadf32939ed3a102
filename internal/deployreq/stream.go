package deployreq

import (
	"errors"
	"io"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Message is what DeployResponse and RollbackResponse have in common: each
// carries either a progress event or the final result.
type Message interface {
	GetEvent() *agentv1.DeployEvent
	GetResult() *agentv1.DeployResult
}

// ErrNoResult is a stream that ended before the agent sent a result: the
// agent went away mid-deploy. The deploy itself runs to its end on the
// node; its history tells how it ended.
var ErrNoResult = errors.New("the agent ended the stream without a result (the deploy goes on on the node: see its history)")

// Recv adapts a Deploy or Rollback client stream for Read.
func Recv[M Message](s interface{ Recv() (M, error) }) func() (Message, error) {
	return func() (Message, error) { return s.Recv() }
}

// Read reads a Deploy or Rollback stream to its result, handing each
// progress event to onEvent (which may be nil). A stream error is returned
// as it came, with its gRPC status.
func Read(recv func() (Message, error), onEvent func(*agentv1.DeployEvent)) (*agentv1.DeployResult, error) {
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return nil, ErrNoResult
		}
		if err != nil {
			return nil, err
		}
		if ev := m.GetEvent(); ev != nil && onEvent != nil {
			onEvent(ev)
		}
		if res := m.GetResult(); res != nil {
			return res, nil
		}
	}
}

// IsProgress reports whether ev is a pull's byte-count progress, which
// front ends that keep a log of phases leave out.
func IsProgress(ev *agentv1.DeployEvent) bool {
	return ev.GetTotalBytes() != 0 || ev.GetCurrentBytes() != 0
}
