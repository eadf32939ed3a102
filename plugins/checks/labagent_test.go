package checks_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	"github.com/labfleet/labfleet/internal/pki"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

func agentArgs(t *testing.T, a *labtest.Agent, extra ...string) []string {
	t.Helper()
	host, port := pt.SplitAddr(t, a.Addr)
	return append([]string{"-H", host, "-p", port}, extra...)
}

func TestCheckLabagent(t *testing.T) {
	t.Parallel()
	plain := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1"})
	mtls := labtest.StartAgent(t, labtest.AgentOptions{Name: "node2", Mode: labtest.MTLS})
	token := labtest.StartAgent(t, labtest.AgentOptions{Name: "node3", Mode: labtest.Token})
	noDocker := labtest.StartAgent(t, labtest.AgentOptions{Name: "node4", Args: []string{"--docker-host", "unix:///nonexistent/docker.sock"}})
	hn, _ := os.Hostname()
	norm := []pt.Norm{pt.Literal("(host "+hn+")", "(host HOSTNAME)"), pt.AgentVersion(t, plain)}
	run := func(t *testing.T, env []string, args ...string) pt.Result {
		t.Helper()
		return pt.Run(t, env, "check_labagent", args...)
	}

	t.Run("OK_Insecure", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, plain, "--insecure", "-v")...)
		r.Want(t, 0, "LABAGENT OK: agent node1 ", " SERVING, Docker ", "'rtt'=", "capabilities: info, node-stats")
		pt.Golden(t, "labagent_ok", r, norm...)
	})
	t.Run("OK_MutualTLS", func(t *testing.T) {
		c := mtls.Certs
		r := run(t, nil, agentArgs(t, mtls, "--cacert", filepath.Join(c, "ca.crt"), "--cert", filepath.Join(c, "labcontroller.crt"),
			"--key", filepath.Join(c, "labcontroller.key"), "-v")...)
		r.Want(t, 0, "LABAGENT OK: agent node2 ", "the agent sees this caller as \"cert:labcontroller\"")
	})
	t.Run("OK_Token", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, token, "--cacert", filepath.Join(token.Certs, "ca.crt"), "--token-file", token.Token, "-v")...)
		r.Want(t, 0, "LABAGENT OK: agent node3 ", "the agent sees this caller as \"token\"")
	})
	t.Run("WARNING_RoundTripTime", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, plain, "--insecure", "-w", "0", "-c", "10")...)
		r.Want(t, 1, "LABAGENT WARNING: agent node1 round trip ", " breaches -w 0 | 'rtt'=", ";0;10;0")
		pt.Golden(t, "labagent_warning_rtt", r, norm...)
	})
	t.Run("WARNING_MinVersion", func(t *testing.T) {
		// Test agents are development builds, whose version no release
		// number can be compared with; the plugin says so rather than
		// guess (TestCompareVersions covers the comparison itself).
		r := run(t, nil, agentArgs(t, plain, "--insecure", "--min-version", "v1.2.0")...)
		r.Want(t, 1, "which cannot be compared with --min-version v1.2.0")
		pt.Golden(t, "labagent_warning_min_version", r, norm...)
	})
	t.Run("CRITICAL_DockerUnreachable", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, noDocker, "--insecure")...)
		r.Want(t, 2, "LABAGENT CRITICAL: agent node4 cannot reach its Docker Engine: ", "/nonexistent/docker.sock")
		pt.Golden(t, "labagent_critical_docker", r, norm...)
	})
	t.Run("CRITICAL_Refused", func(t *testing.T) {
		host, port := pt.SplitAddr(t, pt.ClosedAddr(t))
		r := run(t, nil, "-H", host, "-p", port, "--insecure")
		r.Want(t, 2, "connection refused (is labagent running and listening there?)")
		pt.Golden(t, "labagent_critical_refused", r)
	})
	t.Run("CRITICAL_WrongToken", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(bad, []byte("not-the-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := run(t, nil, agentArgs(t, token, "--cacert", filepath.Join(token.Certs, "ca.crt"), "--token-file", bad)...)
		r.Want(t, 2, "LABAGENT CRITICAL: agent at ", "refused our credentials")
	})
	t.Run("CRITICAL_PlaintextToTLS", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, mtls, "--insecure")...)
		r.Want(t, 2, "LABAGENT CRITICAL: cannot reach agent at ")
	})
	t.Run("UNKNOWN_BadRange", func(t *testing.T) {
		r := run(t, nil, agentArgs(t, plain, "--insecure", "-c", "5:1")...)
		r.Want(t, 3)
		pt.Golden(t, "labagent_unknown_range", r)
	})
	t.Run("UNKNOWN_Options", func(t *testing.T) {
		run(t, nil, "--insecure").Want(t, 3, "LABAGENT UNKNOWN: -H HOST is required (see check_labagent --help)")
		run(t, nil, agentArgs(t, plain, "--insecure", "--cacert", "/nonexistent/ca.crt")...).Want(t, 3, "--insecure with TLS files")
		run(t, nil, agentArgs(t, token, "--token-file", "/nonexistent/token")...).Want(t, 3, "cannot read the token file")
		run(t, nil, agentArgs(t, plain, "--insecure", "--min-version", "latest")...).Want(t, 3, `--min-version "latest" is not a version`)
	})
	t.Run("UNKNOWN_HelpAndVersion", func(t *testing.T) {
		r := run(t, nil, "--help")
		r.Want(t, 3, "Usage: check_labagent -H HOST", "-w, --warning RANGE", "--min-version VERSION", "@10:20 alert inside 10..20")
		pt.Golden(t, "labagent_help", r, pt.Regexp(`\(labfleet\) \S+`, "(labfleet) VERSION"))
		run(t, nil, "-V").Want(t, 3, "check_labagent (labfleet) ")
	})
}

// shortCerts makes a CA and certificates for node (at ip) and the client
// that are valid for days only.
func shortCerts(t *testing.T, ip, node string, days int) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.Init(pki.Options{Dir: dir, Hosts: []pki.Host{{Name: node, Addrs: []string{ip}}}, Validity: time.Duration(days) * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// expiredClient writes a client certificate signed by dir's CA that
// expired an hour ago, and its key, and returns their paths.
func expiredClient(t *testing.T, dir string) (string, string) {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(caPEM)
	kb, _ := pem.Decode(keyPEM)
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		if caKey, err = x509.ParseECPrivateKey(kb.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "old-nagios"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	crt, k := filepath.Join(t.TempDir(), "old.crt"), filepath.Join(t.TempDir(), "old.key")
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, k
}

// The days left on the agent's certificate (from the TLS handshake) and on
// the client certificate are perfdata and alert below the thresholds.
func TestCheckLabagent_CertificateExpiry(t *testing.T) {
	t.Parallel()
	ip := labtest.LoopbackIP()
	certs := shortCerts(t, ip, "node5", 10)
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node5", Mode: labtest.MTLS, Certs: certs, IP: ip})
	tlsArgs := func(extra ...string) []string {
		return agentArgs(t, a, append([]string{"--cacert", filepath.Join(certs, "ca.crt"), "--cert", filepath.Join(certs, "labcontroller.crt"),
			"--key", filepath.Join(certs, "labcontroller.key")}, extra...)...)
	}
	norm := []pt.Norm{pt.Regexp(`version [^ ,]+,`, "version VERSION,"), pt.Regexp(`\(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)`, "(DATE)"),
		pt.Regexp(`(host )[^)]+\)`, "${1}HOSTNAME)")}
	run := func(args ...string) pt.Result { t.Helper(); return pt.Run(t, nil, "check_labagent", args...) }

	t.Run("WARNING_Default", func(t *testing.T) {
		r := run(tlsArgs()...)
		r.Want(t, 1, `LABAGENT WARNING: agent certificate "node5" expires in 9 days (`, "), fewer than 30",
			`client certificate "labcontroller" expires in 9 days`, "'cert_days'=9;30:;7: 'client_cert_days'=9;30:;7:")
		pt.Golden(t, "labagent_warning_cert", r, norm...)
	})
	t.Run("CRITICAL_Threshold", func(t *testing.T) {
		run(tlsArgs("--cert-warning", "60", "--cert-critical", "14")...).Want(t, 2,
			`LABAGENT CRITICAL: agent certificate "node5" expires in 9 days (`, "), fewer than 14", "'cert_days'=9;60:;14:")
	})
	t.Run("OK_Within", func(t *testing.T) {
		run(tlsArgs("--cert-warning", "5", "--cert-critical", "2")...).Want(t, 0, "LABAGENT OK: agent node5 ", "'cert_days'=9;5:;2:",
			`agent certificate "node5" expires in 9 days (`)
	})
	t.Run("CRITICAL_ClientCertificateExpired", func(t *testing.T) {
		crt, key := expiredClient(t, certs)
		r := run(agentArgs(t, a, "--cacert", filepath.Join(certs, "ca.crt"), "--cert", crt, "--key", key)...)
		r.Want(t, 2, "LABAGENT CRITICAL: client certificate "+crt+` ("old-nagios") expired on `, "; renew it", "'client_cert_days'=-1;30:;7:")
	})
	t.Run("UNKNOWN_Thresholds", func(t *testing.T) {
		run(tlsArgs("--cert-warning", "5", "--cert-critical", "10")...).Want(t, 3,
			"LABAGENT UNKNOWN: --cert-warning 5 --cert-critical 10: want days with warning >= critical >= 0")
		run(tlsArgs("--cert-critical", "-1")...).Want(t, 3, "want days with warning >= critical >= 0")
	})
	t.Run("UNKNOWN_WorldReadableKey", func(t *testing.T) {
		key := filepath.Join(t.TempDir(), "open.key")
		b, err := os.ReadFile(filepath.Join(certs, "labcontroller.key"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(key, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(key, 0o644); err != nil {
			t.Fatal(err)
		}
		run(agentArgs(t, a, "--cacert", filepath.Join(certs, "ca.crt"), "--cert", filepath.Join(certs, "labcontroller.crt"), "--key", key)...).Want(t, 3,
			"LABAGENT UNKNOWN: refusing --key: ", "chmod 600 "+key, "(see check_labagent --help)")
	})
	// A client certificate of another CA: the agent breaks the handshake
	// off, and the plugin says which files to check.
	t.Run("CRITICAL_ClientCertificateRefused", func(t *testing.T) {
		other := shortCerts(t, ip, "node5", 100)
		run(agentArgs(t, a, "--cacert", filepath.Join(certs, "ca.crt"), "--cert", filepath.Join(other, "labcontroller.crt"),
			"--key", filepath.Join(other, "labcontroller.key"))...).Want(t, 2, "LABAGENT CRITICAL: cannot reach agent at ",
			"check --cert/--key against the CA the agent trusts for clients (its --tls-client-ca)")
	})
}
