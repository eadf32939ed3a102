package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/identity"
)

func peerCtx(addr string, md ...string) context.Context {
	ip, port, _ := net.SplitHostPort(addr)
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: atoi(port)}})
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

func TestAuthenticate(t *testing.T) {
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte("0123456789abcdef-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withToken, err := newAuthenticator(tokFile, false)
	if err != nil {
		t.Fatal(err)
	}
	none, _ := newAuthenticator("", false)
	mtls, _ := newAuthenticator("", true)

	cases := []struct {
		name string
		a    *authenticator
		ctx  context.Context
		who  string
		code codes.Code
	}{
		{"loopback plaintext", none, peerCtx("127.0.0.1:5000"), "loopback", codes.OK},
		{"non-loopback plaintext", none, peerCtx("10.1.2.3:5000"), "", codes.Unauthenticated},
		{"good token", withToken, peerCtx("10.1.2.3:5000", "authorization", "Bearer 0123456789abcdef-token"), "token", codes.OK},
		{"wrong token", withToken, peerCtx("10.1.2.3:5000", "authorization", "Bearer 0123456789abcdef-tokeX"), "", codes.Unauthenticated},
		{"token prefix", withToken, peerCtx("127.0.0.1:5000", "authorization", "Bearer 0123456789abcdef"), "", codes.Unauthenticated},
		{"no token", withToken, peerCtx("127.0.0.1:5000"), "", codes.Unauthenticated},
		{"mtls without cert", mtls, peerCtx("127.0.0.1:5000"), "", codes.Unauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, err := c.a.authenticate(c.ctx)
			if status.Code(err) != c.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, c.code)
			}
			if err == nil && identity.From(ctx) != c.who {
				t.Fatalf("identity = %q, want %q", identity.From(ctx), c.who)
			}
		})
	}
}

func TestShortTokenRefused(t *testing.T) {
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newAuthenticator(f, false); err == nil {
		t.Fatal("a 5-character token was accepted")
	}
}
