package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/identity"
)

// authenticator decides who a caller is. The TLS layer has already refused
// clients without a valid certificate when mTLS is on; this adds the token
// check and names the caller for logs and deploy history.
type authenticator struct {
	// tokenHash is the SHA-256 of the expected token, or nil. Comparing
	// hashes keeps the comparison constant-time regardless of length.
	tokenHash []byte
	// requireCert is set with mTLS. The handshake verifies a certificate
	// when one is given but lets a client without one through, so that
	// health checks work for load balancers; every other RPC needs it.
	requireCert bool
}

func newAuthenticator(tokenFile string, requireCert bool) (*authenticator, error) {
	a := &authenticator{requireCert: requireCert}
	if tokenFile == "" {
		return a, nil
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read --token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return nil, fmt.Errorf("%w: the token in %s is %d characters; use at least 16 random ones (e.g. openssl rand -hex 32)", ErrConfig, tokenFile, len(tok))
	}
	h := sha256.Sum256([]byte(tok))
	a.tokenHash = h[:]
	return a, nil
}

// authenticate is the auth interceptor's function.
func (a *authenticator) authenticate(ctx context.Context) (context.Context, error) {
	var who []string
	p, _ := peer.FromContext(ctx)
	if p != nil {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			who = append(who, "cert:"+ti.State.VerifiedChains[0][0].Subject.CommonName)
		}
	}
	if a.requireCert && len(who) == 0 {
		return nil, status.Error(codes.Unauthenticated, "a client certificate signed by the agent's --tls-client-ca is required")
	}
	if a.tokenHash != nil {
		got := bearer(ctx)
		if got == "" {
			return nil, status.Error(codes.Unauthenticated, "missing bearer token: send 'authorization: Bearer <token>'")
		}
		h := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(h[:], a.tokenHash) != 1 {
			return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
		}
		who = append(who, "token")
	}
	if len(who) == 0 {
		// Only reachable in --insecure mode, which Config.Check allows on
		// loopback alone; double-check the peer rather than trust that.
		if p == nil || !peerIsLoopback(p.Addr) {
			return nil, status.Error(codes.Unauthenticated, "no client identity")
		}
		who = append(who, "loopback")
	}
	return identity.With(ctx, strings.Join(who, "+")), nil
}

func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

func peerIsLoopback(addr net.Addr) bool {
	if addr == nil {
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	return IsLoopback(host)
}
