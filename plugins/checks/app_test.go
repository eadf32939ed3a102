package checks_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

// tlsServer serves "secure hello" over HTTPS on a fresh loopback address
// with a certificate for its IP that expires in days days, signed by a
// new CA written to the returned file.
func tlsServer(t *testing.T, days int) (addr, caFile string) {
	t.Helper()
	ip := labtest.LoopbackIP()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "plugin test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour * 365),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "app.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Duration(days)*24*time.Hour + time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", net.JoinHostPort(ip, "0"), &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secure hello")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), caFile
}

func TestCheckApp(t *testing.T) {
	t.Parallel()
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: labtest.NodeName(t, "chka")})
	deployWeb(t, a, "web", v1, "v1", labtest.AppPort)
	direct := net.JoinHostPort(a.Host(), strconv.Itoa(labtest.AppPort))
	h := labtest.StartHAProxy(t, labtest.HAProxyOptions{Servers: []labtest.HAProxyServer{{Name: "node1", Addr: direct}}})
	feHost, fePort := pt.SplitAddr(t, h.Frontend)
	via := func(extra ...string) []string { return append([]string{"-H", feHost, "-p", fePort}, extra...) }
	tlsAddr, ca := tlsServer(t, 10)
	tlsHost, tlsPort := pt.SplitAddr(t, tlsAddr)
	secure := func(extra ...string) []string {
		return append([]string{"-H", tlsHost, "-p", tlsPort, "--ssl", "--cacert", ca}, extra...)
	}
	norm := []pt.Norm{pt.Regexp(`[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC`, "DATE")}
	run := func(t *testing.T, args ...string) pt.Result {
		t.Helper()
		return pt.Run(t, nil, "check_app", args...)
	}

	t.Run("OK_ThroughHAProxy", func(t *testing.T) {
		r := run(t, via("-s", "hello from v1", "-r", `^hello from v[0-9]+ on `, "--expect-version", "v1", "-w", "2", "-c", "5")...)
		r.Want(t, 0, "APP OK: HTTP 200, ", " bytes in ", ", version v1 | 'time'=", "s;2;5;0 'size'=", "GET /version: v1")
		pt.Golden(t, "app_ok", r, norm...)
	})
	t.Run("OK_OnTheNode", func(t *testing.T) {
		host, port := pt.SplitAddr(t, direct)
		run(t, "-H", host, "-p", port, "-u", "/healthz", "-s", "ok").Want(t, 0, "APP OK: HTTP 200, 2 bytes in ")
	})
	t.Run("OK_HTTPSCertificate", func(t *testing.T) {
		r := run(t, secure("--certificate", "7,3", "-s", "secure")...)
		r.Want(t, 0, "APP OK: HTTP 200, 12 bytes in ", "'cert_days'=10;7:;3:", `certificate "app.test" expires in 10 days`)
	})
	t.Run("WARNING_ResponseTime", func(t *testing.T) {
		r := run(t, via("-w", "0", "-c", "60")...)
		r.Want(t, 1, "APP WARNING: response time ", " breaches -w 0 | 'time'=")
		pt.Golden(t, "app_warning_time", r, norm...)
	})
	t.Run("WARNING_CertificateDays", func(t *testing.T) {
		r := run(t, secure("--certificate", "30,7")...)
		r.Want(t, 1, `APP WARNING: certificate "app.test" expires in 10 days (`, "), fewer than 30 | ", "'cert_days'=10;30:;7:")
		pt.Golden(t, "app_warning_certificate", r, norm...)
	})
	t.Run("CRITICAL_CertificateDays", func(t *testing.T) {
		run(t, secure("--certificate", "30,14")...).Want(t, 2, `APP CRITICAL: certificate "app.test" expires in 10 days (`, "fewer than 14")
	})
	t.Run("CRITICAL_UntrustedCertificate", func(t *testing.T) {
		run(t, "-H", tlsHost, "-p", tlsPort, "--ssl").Want(t, 2, "APP CRITICAL: GET https://", "certificate signed by unknown authority")
		run(t, "-H", tlsHost, "-p", tlsPort, "--ssl", "--no-verify").Want(t, 0, "APP OK: HTTP 200")
	})
	t.Run("CRITICAL_Status", func(t *testing.T) {
		r := run(t, via("-u", "/nope")...)
		r.Want(t, 2, "APP CRITICAL: HTTP 404 from http://", "/nope (expected 200)")
		pt.Golden(t, "app_critical_status", r, norm...)
		run(t, via("-u", "/nope", "-e", "200,404")...).Want(t, 0, "APP OK: HTTP 404")
	})
	t.Run("CRITICAL_BodyAndVersion", func(t *testing.T) {
		r := run(t, via("-s", "goodbye", "-r", "^v[0-9]$", "--expect-version", "v2")...)
		r.Want(t, 2, `APP CRITICAL: the body of / lacks "goodbye"; the body of / does not match /^v[0-9]$/; /version answers "v1", expected "v2"`)
		pt.Golden(t, "app_critical_body_version", r, norm...)
	})
	t.Run("CRITICAL_Refused", func(t *testing.T) {
		host, port := pt.SplitAddr(t, pt.ClosedAddr(t))
		r := run(t, "-H", host, "-p", port)
		r.Want(t, 2, "APP CRITICAL: GET http://", "connect: connection refused")
		pt.Golden(t, "app_critical_refused", r)
	})
	t.Run("UNKNOWN_Options", func(t *testing.T) {
		run(t, via("-r", "(")...).Want(t, 3, "APP UNKNOWN: -r \"(\": error parsing regexp")
		run(t, via("-e", "abc")...).Want(t, 3, `-e "abc": want HTTP status codes`)
		run(t, via("--certificate", "30,7")...).Want(t, 3, "--certificate needs --ssl")
		run(t, secure("--certificate", "7,30")...).Want(t, 3, "want W,C days with W >= C >= 0")
		r := run(t, "-p", "80")
		r.Want(t, 3)
		pt.Golden(t, "app_unknown_host", r)
	})
}
