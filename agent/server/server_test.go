package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/tlsfiles"
)

// These tests serve real TLS on loopback in this process; the same paths
// against the labagent binary are in e2e/auth_roles_test.go and
// e2e/certs_reload_test.go.

func TestServer_MonitoringCertificateReadsButCannotDeploy(t *testing.T) {
	dir := certSet(t)
	a := startServer(t, mtls(dir))
	nagios := dial(t, a.addr, dir, "nagios")
	info, err := callInfo(nagios)
	if err != nil || info.GetCaller() != "cert:nagios" {
		t.Fatalf("GetInfo as nagios = %v, %v", info, err)
	}
	err = callDeploy(nagios)
	if status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != "Deploy needs the deploy role; this caller (nagios) has monitoring" {
		t.Fatalf("Deploy as nagios = %v", err)
	}
	// The controller gets past authorization to the (fake) handler.
	if err := callDeploy(dial(t, a.addr, dir, "labcontroller")); status.Code(err) != codes.Unimplemented {
		t.Fatalf("Deploy as labcontroller = %v, want the handler's Unimplemented", err)
	}
}

func TestServer_EveryCallIsLoggedWithCallerAndRole(t *testing.T) {
	dir := certSet(t)
	a := startServer(t, mtls(dir))
	_, _ = callInfo(dial(t, a.addr, dir, "nagios"))
	_ = callDeploy(dial(t, a.addr, dir, "nagios"))
	_ = callDeploy(dial(t, a.addr, dir, "labcontroller"))
	_, _ = callInfo(dial(t, a.addr, dir, ""))
	for _, want := range [][]string{
		{"grpc.method=GetInfo", "caller=cert:nagios", "role=monitoring", "grpc.code=OK"},
		{"grpc.method=Deploy", "caller=cert:nagios", "role=monitoring", "grpc.code=PermissionDenied", "needs the deploy role"},
		{"grpc.method=Deploy", "caller=cert:labcontroller", "role=deploy", "grpc.code=Unimplemented"},
		{"grpc.method=GetInfo", "caller=none", "role=none", "grpc.code=Unauthenticated", "peer.address=127.0.0.1:"},
	} {
		if len(a.log.lines(append([]string{`msg="finished call"`}, want...)...)) != 1 {
			t.Errorf("no single call line with %q in the log:\n%s", want, a.log.String())
		}
	}
}

func TestServer_FailedHandshakeIsLoggedWithPeerAddress(t *testing.T) {
	dir, foreign := certSet(t), certSet(t)
	a := startServer(t, mtls(dir))
	pair, err := tlsfiles.LoadKeyPair(filepath.Join(foreign, "labcontroller.crt"), filepath.Join(foreign, "labcontroller.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := tlsfiles.LoadCAPool(filepath.Join(dir, "ca.crt"))
	raw, err := net.Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := tls.Client(raw, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	err = c.Handshake()
	if err == nil {
		_, err = c.Read(make([]byte, 1)) // TLS 1.3: the server's verdict arrives after the client's handshake
	}
	if err == nil {
		t.Fatal("a client certificate from a foreign CA was accepted")
	}
	want := []string{`msg="TLS handshake failed"`, "peer.address=" + raw.LocalAddr().String(), "certificate signed by unknown authority"}
	deadline := time.Now().Add(5 * time.Second)
	for len(a.log.lines(append([]string{"level=WARN"}, want...)...)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no warning with %q in the log:\n%s", want, a.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A port check that connects and leaves is only a debug line.
	probe, err := net.Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	deadline = time.Now().Add(5 * time.Second)
	for len(a.log.lines("level=DEBUG", "TLS handshake failed", "peer.address="+probe.LocalAddr().String())) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the port check was not logged at debug:\n%s", a.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServer_ReflectionNeedsAnIdentityHealthDoesNot(t *testing.T) {
	dir := certSet(t)
	a := startServer(t, mtls(dir))
	list := func(c *agentclient.Conn) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := reflectionpb.NewServerReflectionClient(c).ServerReflectionInfo(ctx)
		if err != nil {
			return err
		}
		// A refused stream may end before the request is sent (io.EOF);
		// the status comes with Recv either way.
		_ = s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = s.Recv()
		return err
	}
	if err := list(dial(t, a.addr, dir, "")); status.Code(err) != codes.Unauthenticated {
		t.Errorf("reflection without a certificate = %v, want Unauthenticated", err)
	}
	if err := list(dial(t, a.addr, dir, "nagios")); err != nil {
		t.Errorf("reflection as nagios = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := healthpb.NewHealthClient(dial(t, a.addr, dir, "")).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil ||
		r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a certificate = %v, %v", r, err)
	}
}

func TestServer_ReloadSwapsFilesForNewConnections(t *testing.T) {
	first, second := certSet(t), certSet(t)
	live := copyDir(t, first) // the files the agent reads
	a := startServer(t, mtls(live))
	old := dial(t, a.addr, first, "labcontroller")
	if _, err := callInfo(old); err != nil {
		t.Fatal(err)
	}

	copyFiles(t, second, live) // a new CA, node certificate and key
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if _, err := callInfo(old); err != nil {
		t.Errorf("the connection made before the reload broke: %v", err)
	}
	if _, err := callInfo(dial(t, a.addr, second, "labcontroller")); err != nil {
		t.Errorf("a new connection with the new files: %v", err)
	}
	if _, err := callInfo(dial(t, a.addr, first, "labcontroller")); status.Code(err) != codes.Unavailable {
		t.Errorf("a new connection with the old CA = %v, want a failed handshake", err)
	}
	if len(a.log.lines("reloaded the TLS certificate", "not_after=")) != 1 {
		t.Errorf("the reload was not logged:\n%s", a.log.String())
	}

	// A bad file leaves the agent on the files it had.
	writeFile(t, filepath.Join(live, "node1.key"), []byte("garbage\n"), 0o600)
	err := a.Reload()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(live, "node1.key")) {
		t.Fatalf("Reload with a bad key = %v, want an error naming it", err)
	}
	if _, err := callInfo(dial(t, a.addr, second, "labcontroller")); err != nil {
		t.Errorf("after a failed reload: %v", err)
	}
	copyFiles(t, second, live)
	writeFile(t, filepath.Join(live, "node1.key"), mustRead(t, filepath.Join(second, "node1.key")), 0o644)
	if err := a.Reload(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "mode 0644") {
		t.Errorf("Reload with a world-readable key = %v", err)
	}
}

func TestServer_ReloadsTokens(t *testing.T) {
	dir := certSet(t)
	tok := tokenFile(t, "token", deployToken)
	cfg := mtls(dir)
	cfg.TLSClientCA, cfg.TokenFile = "", tok
	a := startServer(t, cfg)
	withToken := func(token string) error {
		c, err := agentclient.Dial(agentclient.Options{Addr: a.addr, CAFile: filepath.Join(dir, "ca.crt"), TokenFile: tokenFile(t, "t", token)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = callInfo(c)
		return err
	}
	if err := withToken(deployToken); err != nil {
		t.Fatal(err)
	}
	writeFile(t, tok, []byte("0123456789abcdef-rotated\n"), 0o600)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := withToken(deployToken); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the old token after the reload = %v", err)
	}
	if err := withToken("0123456789abcdef-rotated"); err != nil {
		t.Errorf("the new token: %v", err)
	}
	writeFile(t, tok, []byte("short\n"), 0o600)
	if err := a.Reload(); err == nil {
		t.Error("a short token was reloaded")
	}
	if err := withToken("0123456789abcdef-rotated"); err != nil {
		t.Errorf("the token after a failed reload: %v", err)
	}
}

func TestNew_RefusesAWorldReadableKey(t *testing.T) {
	dir := certSet(t)
	if err := os.Chmod(filepath.Join(dir, "node1.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := newServer(mtls(dir))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--tls-key: secret file readable by other users") ||
		!strings.Contains(err.Error(), "chmod 600 "+filepath.Join(dir, "node1.key")) {
		t.Fatalf("New = %v", err)
	}
	cfg := mtls(dir)
	cfg.AllowReadableSecrets = true
	_, log, err := newServer(cfg)
	if err != nil || len(log.lines("level=WARN", "--allow-readable-secrets", "node1.key")) != 1 {
		t.Fatalf("with --allow-readable-secrets: %v\n%s", err, log.String())
	}
}

func TestServe_InsecureRefusesANonLoopbackBind(t *testing.T) {
	srv, _, err := newServer(Config{Listen: "localhost:0", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "0.0.0.0:0") // what a localhost resolving elsewhere would bind
	if err != nil {
		t.Fatal(err)
	}
	err = srv.serve(context.Background(), lis)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("serve = %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
