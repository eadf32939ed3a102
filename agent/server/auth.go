package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/identity"
	"github.com/labfleet/labfleet/internal/pki"
	"github.com/labfleet/labfleet/internal/tlsfiles"
)

// authenticator decides who a caller is and which role it holds. The TLS
// layer has already refused certificates from another CA; this adds the
// certificate requirement, the tokens, and the roles.
type authenticator struct {
	// requireCert is set with mTLS. The handshake verifies a certificate
	// when one is given but lets a client without one through, so that
	// health checks work for load balancers; every other RPC needs it.
	requireCert bool
	// clientRoles are --client-role: certificate names to roles.
	clientRoles map[string]identity.Role
	// tokenFiles are --token-file and --monitoring-token-file; tokens
	// their digests, swapped whole by reload.
	tokenFiles tokenFiles
	tokens     atomic.Pointer[tokenSet]
}

type tokenFiles struct{ deploy, monitoring string }

// tokenSet holds the SHA-256 digests of the tokens, nil when a role has
// none. Comparing digests keeps the comparison constant-time regardless of
// the token's length.
type tokenSet struct{ deploy, monitoring []byte }

func newAuthenticator(cfg Config, log *slog.Logger) (*authenticator, error) {
	roles, err := cfg.clientRoles()
	if err != nil {
		return nil, err
	}
	a := &authenticator{
		requireCert: cfg.TLSClientCA != "",
		clientRoles: roles,
		tokenFiles:  tokenFiles{deploy: cfg.TokenFile, monitoring: cfg.MonitoringTokenFile},
	}
	ts, err := a.tokenFiles.load(cfg.AllowReadableSecrets, log)
	if err != nil {
		return nil, err
	}
	a.tokens.Store(ts)
	return a, nil
}

// load reads the token files.
func (f tokenFiles) load(allowReadable bool, log *slog.Logger) (*tokenSet, error) {
	ts := &tokenSet{}
	for _, t := range []struct {
		flag, file string
		digest     *[]byte
	}{{"--token-file", f.deploy, &ts.deploy}, {"--monitoring-token-file", f.monitoring, &ts.monitoring}} {
		if t.file == "" {
			continue
		}
		if err := CheckSecret(t.flag, t.file, allowReadable, log); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(t.file)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", t.flag, err)
		}
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return nil, fmt.Errorf("%w: the token in %s is %d characters; use at least 16 random ones (e.g. openssl rand -hex 32)", ErrConfig, t.file, len(tok))
		}
		h := sha256.Sum256([]byte(tok))
		*t.digest = h[:]
	}
	if ts.deploy != nil && subtle.ConstantTimeCompare(ts.deploy, ts.monitoring) == 1 {
		return nil, fmt.Errorf("%w: --token-file and --monitoring-token-file hold the same token; "+
			"a monitoring caller would get the deploy role: give each role its own token", ErrConfig)
	}
	return ts, nil
}

// configured reports whether callers must present a token.
func (ts *tokenSet) configured() bool { return ts.deploy != nil || ts.monitoring != nil }

// match returns the role and caller name of token, or NoRole. Both digests
// are always compared, so the time taken does not say which one matched.
func (ts *tokenSet) match(token string) (identity.Role, string) {
	h := sha256.Sum256([]byte(token))
	deploy := ts.deploy != nil && subtle.ConstantTimeCompare(h[:], ts.deploy) == 1
	monitoring := ts.monitoring != nil && subtle.ConstantTimeCompare(h[:], ts.monitoring) == 1
	switch {
	case deploy:
		return identity.Deploy, "token"
	case monitoring:
		return identity.Monitoring, "monitoring-token"
	}
	return identity.NoRole, ""
}

// identify works out who the caller is and which role its proofs give
// together (the lowest of them). It names what was presented even when it
// fails, so that the call's log line says who was refused; the error is the
// status the call gets (Unauthenticated for missing or wrong proofs,
// PermissionDenied for a certificate without a usable role).
func (a *authenticator) identify(ctx context.Context) (identity.Caller, error) {
	var ids []string
	var authErr, roleErr error
	role := identity.Deploy
	p, _ := peer.FromContext(ctx)
	leaf := verifiedLeaf(p)
	switch {
	case leaf != nil:
		ids = append(ids, "cert:"+leaf.Subject.CommonName)
		r, err := a.certRole(leaf)
		roleErr = err
		role = min(role, r)
	case a.requireCert:
		authErr = status.Error(codes.Unauthenticated, "a client certificate signed by the agent's --tls-client-ca is required")
	}
	if ts := a.tokens.Load(); ts.configured() {
		got := bearer(ctx)
		r, id := ts.match(got)
		switch {
		case got == "":
			authErr = cmpOr(authErr, status.Error(codes.Unauthenticated, "missing bearer token: send 'authorization: Bearer <token>'"))
		case r == identity.NoRole:
			ids = append(ids, "token(invalid)")
			authErr = cmpOr(authErr, status.Error(codes.Unauthenticated, "invalid bearer token"))
		default:
			ids = append(ids, id)
			role = min(role, r)
		}
	}
	if len(ids) == 0 && authErr == nil {
		// Only reachable in --insecure mode, which Config.Check allows on
		// loopback alone; double-check the peer rather than trust that.
		if p == nil || !peerIsLoopback(p.Addr) {
			authErr = status.Error(codes.Unauthenticated, "no client identity")
		} else {
			ids = append(ids, "loopback")
		}
	}
	c := identity.Caller{ID: strings.Join(ids, "+"), Role: role}
	if c.ID == "" {
		c.ID = "none"
	}
	if err := cmpOr(authErr, roleErr); err != nil {
		c.Role = identity.NoRole
		return c, err
	}
	return c, nil
}

func cmpOr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// certRole is the role a verified client certificate gives: the agent's
// --client-role entry for its name, else the role written in it. A
// certificate without one (made before roles existed) is the controller's
// when its name is labcontroller, as certs init named it, and gets no role
// otherwise: the agent does not guess what an unknown name may do.
func (a *authenticator) certRole(c *x509.Certificate) (identity.Role, error) {
	cn := c.Subject.CommonName
	if r, ok := a.clientRoles[cn]; ok {
		return r, nil
	}
	name, err := pki.CertRole(c)
	if err != nil {
		return identity.NoRole, status.Errorf(codes.PermissionDenied, "%v; re-issue it, or map it on the agent with --client-role %s=ROLE", err, cn)
	}
	if name == "" {
		if cn == pki.DefaultClientName {
			return identity.Deploy, nil
		}
		return identity.NoRole, status.Errorf(codes.PermissionDenied, "the client certificate %q carries no role (it was made before roles existed): "+
			"re-issue it with labcontroller certs renew, or map it on the agent with --client-role %s=monitoring (or =deploy)", cn, cn)
	}
	r, err := identity.ParseRole(name)
	if err != nil {
		return identity.NoRole, status.Errorf(codes.PermissionDenied, "the client certificate %q carries the role %q, which this agent does not know "+
			"(it knows monitoring and deploy); map it on the agent with --client-role %s=ROLE", cn, name, cn)
	}
	return r, nil
}

// verifiedLeaf is the client certificate the handshake verified, or nil.
func verifiedLeaf(p *peer.Peer) *x509.Certificate {
	if p == nil {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return ti.State.VerifiedChains[0][0]
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

// CheckSecret refuses a key or secret file (named by its flag) that every
// user on the machine can read: ErrConfig saying how to fix it. With allow
// it logs a warning instead. A file that cannot be checked is left to the
// read that follows, which says why.
func CheckSecret(flag, file string, allow bool, log *slog.Logger) error {
	err := tlsfiles.CheckPrivate(file)
	switch {
	case err == nil || !errors.Is(err, tlsfiles.ErrReadable):
		return nil
	case allow:
		log.Warn("secret file readable by other users; accepted because of --allow-readable-secrets", "flag", flag, "file", file, "problem", err.Error())
		return nil
	}
	return fmt.Errorf("%w: %s: %v; or start with --allow-readable-secrets to accept it", ErrConfig, flag, err)
}
