package agentclient_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/pki"
	"github.com/labfleet/labfleet/internal/tlsfiles"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// fakeAgent answers GetInfo with its node name and the caller it saw:
// "cert:CN" for a verified client certificate, else "plaintext" or "tls".
type fakeAgent struct {
	agentv1.UnimplementedAgentServiceServer
	node string
	// block makes GetInfo wait for the caller's deadline.
	block bool
}

func (f *fakeAgent) GetInfo(ctx context.Context, _ *agentv1.GetInfoRequest) (*agentv1.GetInfoResponse, error) {
	if f.block {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	caller := "plaintext"
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			caller = "tls"
			if len(ti.State.VerifiedChains) > 0 {
				caller = "cert:" + ti.State.VerifiedChains[0][0].Subject.CommonName
			}
		}
	}
	return &agentv1.GetInfoResponse{NodeName: f.node, Caller: caller}, nil
}

// startAgent serves f on a fresh loopback port until the test ends and
// returns its HOST:PORT.
func startAgent(t *testing.T, f *fakeAgent, opts ...grpc.ServerOption) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	agentv1.RegisterAgentServiceServer(s, f)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// tokenCheck is an interceptor that admits only "Bearer token" and
// records every authorization header it was sent.
type tokenCheck struct {
	token string
	mu    sync.Mutex
	seen  []string
}

func (c *tokenCheck) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get("authorization")
	c.mu.Lock()
	c.seen = append(c.seen, got...)
	c.mu.Unlock()
	if len(got) != 1 || got[0] != "Bearer "+c.token {
		return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	return h(ctx, req)
}

func (c *tokenCheck) headers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// makeCerts runs pki.Init for one node reachable at 127.0.0.1 and returns
// the directory (ca.crt, node1.crt/key, labcontroller.crt/key).
func makeCerts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := pki.Init(pki.Options{Dir: dir, Hosts: []pki.Host{{Name: "node1", Addrs: []string{"127.0.0.1"}}}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serverTLS is the agent's TLS setup: node1's certificate and, when
// clientCADir is set, client certificates verified against its CA when
// given (as labagent does with --tls-client-ca).
func serverTLS(t *testing.T, dir, clientCADir string) grpc.ServerOption {
	t.Helper()
	pair, err := tlsfiles.LoadKeyPair(filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node1.key"))
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCADir != "" {
		pool, err := tlsfiles.LoadCAPool(filepath.Join(clientCADir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return grpc.Creds(credentials.NewTLS(tc))
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// dial is Dial that must succeed; the connection closes with the test.
func dial(t *testing.T, o agentclient.Options) *agentclient.Conn {
	t.Helper()
	c, err := agentclient.Dial(o)
	if err != nil {
		t.Fatalf("Dial(%+v): %v", o, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getInfo calls GetInfo with a short deadline and explains the error.
func getInfo(c *agentclient.Conn, timeout time.Duration) (*agentv1.GetInfoResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := c.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
	return r, c.Explain(err)
}
