package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/labfleet/labfleet/agent/identity"
	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/pki"
	"github.com/labfleet/labfleet/internal/tlsfiles"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// certSet runs certs init for node1 at 127.0.0.1 into a fresh directory:
// ca, node1, labcontroller (deploy) and nagios (monitoring).
func certSet(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if _, err := pki.Init(pki.Options{Dir: dir, Hosts: []pki.Host{{Name: "node1", Addrs: []string{"127.0.0.1"}}}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// signClient issues a client certificate named cn from dir's CA with the
// given URI SANs (none: a certificate made before roles existed) and
// writes it as cn.crt and cn.key there.
func signClient(t *testing.T, dir, cn string, uris ...string) *x509.Certificate {
	t.Helper()
	caCerts, err := tlsfiles.LoadCertificates(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := tlsfiles.LoadKey(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCerts[0], key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	writeFile(t, filepath.Join(dir, cn+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	writeFile(t, filepath.Join(dir, cn+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	c, _ := x509.ParseCertificate(der)
	return c
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func leafOf(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	c, err := tlsfiles.LoadCertificates(filepath.Join(dir, name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	return c[0]
}

// callCtx is the context of a call from addr, over TLS with leaf as the
// verified client certificate when leaf is set, with metadata md.
func callCtx(addr string, leaf *x509.Certificate, md ...string) context.Context {
	host, port, _ := net.SplitHostPort(addr)
	p := &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(host), Port: atoi(port)}}
	if leaf != nil {
		p.AuthInfo = credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}}
	}
	ctx := peer.NewContext(context.Background(), p)
	if len(md) > 0 {
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(md...))
	}
	return ctx
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// syncBuffer is a log the server and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the log lines containing every one of want.
func (s *syncBuffer) lines(want ...string) []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		ok := l != ""
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// fakeAgent answers GetInfo with the caller; every other RPC is
// Unimplemented, which tells a test the call got past authorization.
type fakeAgent struct {
	agentv1.UnimplementedAgentServiceServer
}

func (fakeAgent) GetInfo(ctx context.Context, _ *agentv1.GetInfoRequest) (*agentv1.GetInfoResponse, error) {
	return &agentv1.GetInfoResponse{NodeName: "node1", Caller: identity.From(ctx)}, nil
}

// running is a Server serving on a loopback port in this process.
type running struct {
	*Server
	addr string
	log  *syncBuffer
}

// startServer serves cfg (Listen is ignored) until the test ends.
func startServer(t *testing.T, cfg Config) *running {
	t.Helper()
	srv, log, err := newServer(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	return &running{Server: srv, addr: lis.Addr().String(), log: log}
}

// newServer builds a Server logging at debug level into a buffer.
func newServer(cfg Config) (*Server, *syncBuffer, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.ShutdownTimeout = 2 * time.Second
	log := &syncBuffer{}
	srv, err := New(cfg, fakeAgent{}, slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return srv, log, err
}

// mtls is the mTLS configuration of dir's node1.
func mtls(dir string) Config {
	return Config{TLSCert: filepath.Join(dir, "node1.crt"), TLSKey: filepath.Join(dir, "node1.key"), TLSClientCA: filepath.Join(dir, "ca.crt")}
}

// dial connects to the agent as client (a certificate name in dir, or ""
// for none), trusting dir's CA.
func dial(t *testing.T, addr, dir, client string) *agentclient.Conn {
	t.Helper()
	o := agentclient.Options{Addr: addr, CAFile: filepath.Join(dir, "ca.crt")}
	if client != "" {
		o.CertFile, o.KeyFile = filepath.Join(dir, client+".crt"), filepath.Join(dir, client+".key")
	}
	c, err := agentclient.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func callInfo(c *agentclient.Conn) (*agentv1.GetInfoResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
}

// callDeploy starts a Deploy and returns the stream's first error.
func callDeploy(c *agentclient.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Agent.Deploy(ctx, &agentv1.DeployRequest{App: "todo", Image: "todo:v1"})
	if err != nil {
		return err
	}
	_, err = s.Recv()
	if err == io.EOF {
		return nil
	}
	return err
}

// copyDir copies the files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	copyFiles(t, src, dst)
	return dst
}

// copyFiles copies (replacing) every file of src into dst, keeping modes.
func copyFiles(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := e.Info()
		writeFile(t, filepath.Join(dst, e.Name()), b, st.Mode().Perm())
	}
}
