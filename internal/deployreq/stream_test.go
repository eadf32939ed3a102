package deployreq_test

import (
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

type fakeStream struct {
	msgs []*agentv1.DeployResponse
	end  error
}

func (s *fakeStream) Recv() (*agentv1.DeployResponse, error) {
	if len(s.msgs) == 0 {
		return nil, s.end
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

func event(phase agentv1.DeployPhase, msg string) *agentv1.DeployResponse {
	return &agentv1.DeployResponse{Kind: &agentv1.DeployResponse_Event{Event: &agentv1.DeployEvent{Phase: phase, Message: msg}}}
}

func TestRead_EventsThenResult(t *testing.T) {
	res := &agentv1.DeployResult{App: "todo", Outcome: agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED}
	s := &fakeStream{msgs: []*agentv1.DeployResponse{
		event(agentv1.DeployPhase_DEPLOY_PHASE_PULL, "pulling"),
		event(agentv1.DeployPhase_DEPLOY_PHASE_HEALTH, "healthy"),
		{Kind: &agentv1.DeployResponse_Result{Result: res}},
	}, end: io.EOF}
	var phases []string
	got, err := deployreq.Read(deployreq.Recv(s), func(ev *agentv1.DeployEvent) { phases = append(phases, deployreq.PhaseName(ev.GetPhase())) })
	if err != nil || got != res {
		t.Fatalf("Read = %v, %v", got, err)
	}
	if len(phases) != 2 || phases[0] != "pull" || phases[1] != "health" {
		t.Fatalf("events = %v", phases)
	}
}

func TestRead_StreamEndsWithoutResult(t *testing.T) {
	s := &fakeStream{msgs: []*agentv1.DeployResponse{event(agentv1.DeployPhase_DEPLOY_PHASE_PULL, "pulling")}, end: io.EOF}
	if _, err := deployreq.Read(deployreq.Recv(s), nil); !errors.Is(err, deployreq.ErrNoResult) {
		t.Fatalf("err = %v, want ErrNoResult", err)
	}
}

func TestRead_KeepsTheGRPCStatus(t *testing.T) {
	s := &fakeStream{end: status.Error(codes.Aborted, "another deploy of todo is running")}
	_, err := deployreq.Read(deployreq.Recv(s), nil)
	if status.Code(err) != codes.Aborted {
		t.Fatalf("code = %v (%v), want Aborted", status.Code(err), err)
	}
}

func TestIsProgress(t *testing.T) {
	if deployreq.IsProgress(&agentv1.DeployEvent{Message: "pulling"}) || !deployreq.IsProgress(&agentv1.DeployEvent{CurrentBytes: 10, TotalBytes: 100}) {
		t.Fatal("IsProgress is wrong")
	}
}
