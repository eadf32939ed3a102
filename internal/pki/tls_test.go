package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/pki"
	"github.com/labfleet/labfleet/internal/tlsfiles"
)

func loadPair(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	c, err := tlsfiles.LoadKeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loadPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	p, err := tlsfiles.LoadCAPool(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// handshake runs an agent-style mTLS server with node1's certificate on a
// loopback listener and dials it as the controller would. It returns both
// sides' errors and, on success, the client identity the server saw.
func handshake(t *testing.T, serverDir string, client tls.Certificate, clientRoots *x509.CertPool, serverName string) (clientErr, serverErr error, peerCN string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	serverCfg := &tls.Config{
		Certificates: []tls.Certificate{loadPair(t, serverDir, "node1")},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    loadPool(t, serverDir),
		MinVersion:   tls.VersionTLS13,
	}
	type result struct {
		err error
		cn  string
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(conn, serverCfg)
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		// Read so a TLS 1.3 client learns of a rejection, then echo.
		buf := make([]byte, 4)
		if _, err := tc.Read(buf); err != nil {
			done <- result{err: err}
			return
		}
		tc.Write(buf)
		done <- result{cn: tc.ConnectionState().PeerCertificates[0].Subject.CommonName}
	}()

	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(conn, &tls.Config{
		Certificates: []tls.Certificate{client},
		RootCAs:      clientRoots,
		ServerName:   serverName, // an IP: verified against the IP SANs
		MinVersion:   tls.VersionTLS13,
	})
	clientErr = tc.Handshake()
	if clientErr == nil {
		// In TLS 1.3 the server checks the client certificate after the
		// client's handshake is done; the round trip surfaces its verdict.
		if _, err := tc.Write([]byte("ping")); err != nil {
			clientErr = err
		} else if _, err := tc.Read(make([]byte, 4)); err != nil {
			clientErr = err
		}
	}
	if clientErr != nil {
		conn.Close() // unblock the server if it is still waiting
	}
	r := <-done
	return clientErr, r.err, r.cn
}

func TestTLS_MutualHandshakeSucceeds(t *testing.T) {
	dir := initDir(t, pki.Options{})
	clientErr, serverErr, cn := handshake(t, dir, loadPair(t, dir, "labcontroller"), loadPool(t, dir), "127.0.0.11")
	if clientErr != nil || serverErr != nil {
		t.Fatalf("handshake failed: client %v, server %v", clientErr, serverErr)
	}
	if cn != "labcontroller" {
		t.Errorf("server saw client %q, want labcontroller", cn)
	}
}

func TestTLS_ClientFromAnotherCAIsRejected(t *testing.T) {
	dir := initDir(t, pki.Options{})
	other := initDir(t, pki.Options{})
	clientErr, serverErr, _ := handshake(t, dir, loadPair(t, other, "labcontroller"), loadPool(t, dir), "127.0.0.11")
	var unknown x509.UnknownAuthorityError
	if !errors.As(serverErr, &unknown) {
		t.Errorf("server err = %v, want x509.UnknownAuthorityError", serverErr)
	}
	if clientErr == nil {
		t.Errorf("client saw no error although the server rejected it")
	}
}

func TestTLS_NodeCertificateCannotActAsClient(t *testing.T) {
	dir := initDir(t, pki.Options{})
	_, serverErr, _ := handshake(t, dir, loadPair(t, dir, "node2"), loadPool(t, dir), "127.0.0.11")
	var invalid x509.CertificateInvalidError
	if !errors.As(serverErr, &invalid) || invalid.Reason != x509.IncompatibleUsage {
		t.Errorf("server err = %v, want IncompatibleUsage (node certs are ServerAuth only)", serverErr)
	}
}

func TestTLS_ServerVerifiedForItsOwnAddressOnly(t *testing.T) {
	dir := initDir(t, pki.Options{})
	clientErr, _, _ := handshake(t, dir, loadPair(t, dir, "labcontroller"), loadPool(t, dir), "127.0.0.12")
	var hostErr x509.HostnameError
	if !errors.As(clientErr, &hostErr) {
		t.Errorf("client err = %v, want x509.HostnameError (node1 dialled as node2's address)", clientErr)
	}
}
