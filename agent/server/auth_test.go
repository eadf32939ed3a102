package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/identity"
	"github.com/labfleet/labfleet/internal/pki"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

const (
	deployToken     = "0123456789abcdef-deploy"
	monitoringToken = "0123456789abcdef-monitor"
)

func tokenFile(t *testing.T, name, token string) string {
	t.Helper()
	return writeFile(t, filepath.Join(t.TempDir(), name), []byte(token+"\n"), 0o600)
}

func mustAuthenticator(t *testing.T, cfg Config) *authenticator {
	t.Helper()
	a, err := newAuthenticator(cfg, discard)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestIdentify_RolesFromCertificatesTokensAndLoopback(t *testing.T) {
	dir := certSet(t)
	controller, nagios := leafOf(t, dir, "labcontroller"), leafOf(t, dir, "nagios")
	oldController := signClient(t, dir, "labcontroller")
	oldOps := signClient(t, dir, "ops")
	future := signClient(t, dir, "robot", "labfleet://role/admin")
	twoRoles := signClient(t, dir, "confused", "labfleet://role/deploy", "labfleet://role/monitoring")
	dt, mt := tokenFile(t, "deploy", deployToken), tokenFile(t, "monitoring", monitoringToken)

	plain := mustAuthenticator(t, Config{})
	tokens := mustAuthenticator(t, Config{TokenFile: dt, MonitoringTokenFile: mt})
	mtlsOnly := mustAuthenticator(t, Config{TLSClientCA: "ca.crt"})
	mapped := mustAuthenticator(t, Config{TLSClientCA: "ca.crt", ClientRoles: map[string]string{"ops": "monitoring", "nagios": "deploy"}})
	both := mustAuthenticator(t, Config{TLSClientCA: "ca.crt", TokenFile: dt, MonitoringTokenFile: mt})
	bearer := func(tok string) []string { return []string{"authorization", "Bearer " + tok} }

	cases := []struct {
		name string
		a    *authenticator
		ctx  context.Context
		id   string
		role identity.Role
		code codes.Code
		msg  string
	}{
		{"loopback plaintext", plain, callCtx("127.0.0.1:5000", nil), "loopback", identity.Deploy, codes.OK, ""},
		{"non-loopback plaintext", plain, callCtx("10.1.2.3:5000", nil), "none", identity.NoRole, codes.Unauthenticated, "no client identity"},
		{"deploy token", tokens, callCtx("10.1.2.3:5000", nil, bearer(deployToken)...), "token", identity.Deploy, codes.OK, ""},
		{"monitoring token", tokens, callCtx("10.1.2.3:5000", nil, bearer(monitoringToken)...), "monitoring-token", identity.Monitoring, codes.OK, ""},
		{"wrong token", tokens, callCtx("10.1.2.3:5000", nil, bearer(deployToken+"X")...), "token(invalid)", identity.NoRole, codes.Unauthenticated, "invalid bearer token"},
		{"token prefix", tokens, callCtx("127.0.0.1:5000", nil, bearer("0123456789abcdef")...), "token(invalid)", identity.NoRole, codes.Unauthenticated, "invalid"},
		{"no token on loopback", tokens, callCtx("127.0.0.1:5000", nil), "none", identity.NoRole, codes.Unauthenticated, "missing bearer token"},
		{"mTLS without a certificate", mtlsOnly, callCtx("127.0.0.1:5000", nil), "none", identity.NoRole, codes.Unauthenticated, "client certificate"},
		{"controller certificate", mtlsOnly, callCtx("10.1.2.3:5000", controller), "cert:labcontroller", identity.Deploy, codes.OK, ""},
		{"monitoring certificate", mtlsOnly, callCtx("10.1.2.3:5000", nagios), "cert:nagios", identity.Monitoring, codes.OK, ""},
		{"old controller certificate without a role", mtlsOnly, callCtx("10.1.2.3:5000", oldController), "cert:labcontroller", identity.Deploy, codes.OK, ""},
		{"old certificate of another name", mtlsOnly, callCtx("10.1.2.3:5000", oldOps), "cert:ops", identity.NoRole, codes.PermissionDenied,
			`"ops" carries no role (it was made before roles existed): re-issue it with labcontroller certs renew, or map it on the agent with --client-role ops=monitoring`},
		{"unknown role", mtlsOnly, callCtx("10.1.2.3:5000", future), "cert:robot", identity.NoRole, codes.PermissionDenied, `carries the role "admin", which this agent does not know`},
		{"two roles", mtlsOnly, callCtx("10.1.2.3:5000", twoRoles), "cert:confused", identity.NoRole, codes.PermissionDenied, "two roles"},
		{"--client-role gives an old certificate a role", mapped, callCtx("10.1.2.3:5000", oldOps), "cert:ops", identity.Monitoring, codes.OK, ""},
		{"--client-role wins over the certificate", mapped, callCtx("10.1.2.3:5000", nagios), "cert:nagios", identity.Deploy, codes.OK, ""},
		{"certificate and token: the lower role", both, callCtx("10.1.2.3:5000", controller, bearer(monitoringToken)...), "cert:labcontroller+monitoring-token", identity.Monitoring, codes.OK, ""},
		{"monitoring certificate and deploy token", both, callCtx("10.1.2.3:5000", nagios, bearer(deployToken)...), "cert:nagios+token", identity.Monitoring, codes.OK, ""},
		{"certificate and wrong token", both, callCtx("10.1.2.3:5000", controller, bearer("wrong-token-0123456789")...), "cert:labcontroller+token(invalid)", identity.NoRole, codes.Unauthenticated, "invalid bearer token"},
		{"token without the certificate", both, callCtx("10.1.2.3:5000", nil, bearer(deployToken)...), "token", identity.NoRole, codes.Unauthenticated, "client certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.a.identify(c.ctx)
			if status.Code(err) != c.code || (c.msg != "" && !strings.Contains(status.Convert(err).Message(), c.msg)) {
				t.Fatalf("err = %v, want %v saying %q", err, c.code, c.msg)
			}
			if got.ID != c.id || got.Role != c.role {
				t.Fatalf("caller = %q with role %v, want %q with %v", got.ID, got.Role, c.id, c.role)
			}
		})
	}
}

func TestNewAuthenticator_RefusesBadTokens(t *testing.T) {
	short := tokenFile(t, "short", "short")
	same1, same2 := tokenFile(t, "a", deployToken), tokenFile(t, "b", deployToken)
	readable := writeFile(t, filepath.Join(t.TempDir(), "token"), []byte(deployToken), 0o644)
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"short token", Config{TokenFile: short}, "is 5 characters; use at least 16"},
		{"one token for both roles", Config{TokenFile: same1, MonitoringTokenFile: same2}, "hold the same token"},
		{"world-readable token", Config{TokenFile: readable}, "--token-file: secret file readable by other users: " + readable + " has mode 0644"},
		{"world-readable monitoring token", Config{MonitoringTokenFile: readable}, "--monitoring-token-file: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := newAuthenticator(c.cfg, discard)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrConfig saying %q", err, c.want)
			}
		})
	}
	if _, err := newAuthenticator(Config{TokenFile: readable, AllowReadableSecrets: true}, discard); err != nil {
		t.Errorf("--allow-readable-secrets: %v", err)
	}
	if _, err := newAuthenticator(Config{TokenFile: filepath.Join(t.TempDir(), "nope")}, discard); err == nil ||
		!strings.Contains(err.Error(), "cannot read --token-file") {
		t.Errorf("missing token file: %v", err)
	}
}

func TestCertRoleNamesMatchTheAgentsRoles(t *testing.T) {
	for name, want := range map[string]identity.Role{pki.RoleDeploy: identity.Deploy, pki.RoleMonitoring: identity.Monitoring} {
		if r, err := identity.ParseRole(name); err != nil || r != want {
			t.Errorf("pki role %q parses as %v, %v; want %v", name, r, err, want)
		}
	}
	for _, r := range identity.Roles {
		if _, err := identity.ParseRole(r.String()); err != nil {
			t.Errorf("role %v does not parse back: %v", r, err)
		}
	}
}

func TestCheckSecret(t *testing.T) {
	dir := t.TempDir()
	private := writeFile(t, filepath.Join(dir, "private"), []byte("x"), 0o600)
	group := writeFile(t, filepath.Join(dir, "group"), []byte("x"), 0o640)
	world := writeFile(t, filepath.Join(dir, "world"), []byte("x"), 0o604)
	writable := writeFile(t, filepath.Join(dir, "writable"), []byte("x"), 0o602)
	for _, f := range []string{private, group, filepath.Join(dir, "missing")} {
		if err := CheckSecret("--f", f, false, discard); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, f := range []string{world, writable} {
		err := CheckSecret("--f", f, false, discard)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "chmod 600 "+f) || !strings.Contains(err.Error(), "--allow-readable-secrets") {
			t.Errorf("%s: err = %v", f, err)
		}
	}
	var log syncBuffer
	if err := CheckSecret("--f", world, true, slog.New(slog.NewTextHandler(&log, nil))); err != nil {
		t.Errorf("allowed: %v", err)
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), world) {
		t.Errorf("allowed readable file not warned about:\n%s", log.String())
	}
	_ = os.Remove(world)
}
