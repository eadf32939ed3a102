package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/identity"
	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// testCaller is the identity the test server's interceptors give every
// call, as labagent's authenticator would.
const testCaller = "cert:ci"

type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s callerStream) Context() context.Context { return s.ctx }

// serve registers svc on a real gRPC server on a loopback port and returns
// a client for it; both end with the test.
func serve(t *testing.T, svc *Service) agentv1.AgentServiceClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(identity.With(ctx, testCaller), req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, callerStream{ServerStream: ss, ctx: identity.With(ss.Context(), testCaller)})
		}),
	)
	agentv1.RegisterAgentServiceServer(s, svc)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return agentv1.NewAgentServiceClient(cc)
}

// deployService is a Service for node1 whose deploy engine drives rt and
// keeps its state in a temporary directory.
func deployService(t *testing.T, rt *fakeRuntime) *Service {
	t.Helper()
	store, err := deploy.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := New("node1", "127.0.0.1", nil, nil)
	svc.Deploys = deploy.New(rt, store, "node1", "127.0.0.1", slog.New(slog.DiscardHandler))
	return svc
}

// stream is what a Deploy or Rollback stream sent: its events, then its
// result or error.
type stream struct {
	events []*agentv1.DeployEvent
	result *agentv1.DeployResult
	// afterResult counts messages that came after the result.
	afterResult int
	err         error
}

// phases lists the events' phases as people read them.
func (s stream) phases() []string {
	var out []string
	for _, ev := range s.events {
		out = append(out, deployreq.PhaseName(ev.GetPhase()))
	}
	return out
}

func readStream[M interface {
	GetEvent() *agentv1.DeployEvent
	GetResult() *agentv1.DeployResult
}](recv func() (M, error)) stream {
	var s stream
	for {
		m, err := recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.err = err
			}
			return s
		}
		switch {
		case s.result != nil:
			s.afterResult++
		case m.GetEvent() != nil:
			s.events = append(s.events, m.GetEvent())
		case m.GetResult() != nil:
			s.result = m.GetResult()
		}
	}
}

func runDeploy(t *testing.T, c agentv1.AgentServiceClient, req *agentv1.DeployRequest) stream {
	t.Helper()
	st, err := c.Deploy(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return readStream(st.Recv)
}

func runRollback(t *testing.T, c agentv1.AgentServiceClient, req *agentv1.RollbackRequest) stream {
	t.Helper()
	st, err := c.Rollback(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return readStream(st.Recv)
}
