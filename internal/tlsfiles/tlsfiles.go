// Package tlsfiles loads certificates, keys and CA bundles from PEM files for
// the agent, the controller and the plugins, with errors that name the file
// and say what is wrong with it. It never logs or returns key material.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrBadFile marks a certificate, key or CA file that cannot be used.
var ErrBadFile = errors.New("unusable TLS file")

// LoadKeyPair loads a certificate and its private key.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: cannot read certificate: %v", ErrBadFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: cannot read key: %v", ErrBadFile, err)
	}
	if b, _ := pem.Decode(certPEM); b == nil {
		return tls.Certificate{}, fmt.Errorf("%w: %s holds no PEM certificate", ErrBadFile, certFile)
	}
	if b, _ := pem.Decode(keyPEM); b == nil {
		return tls.Certificate{}, fmt.Errorf("%w: %s holds no PEM key", ErrBadFile, keyFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: certificate %s and key %s do not match or cannot be parsed: %v", ErrBadFile, certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %s: %v", ErrBadFile, certFile, err)
	}
	if now := time.Now(); now.After(leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("%w: certificate %s expired on %s; make new ones (labcontroller certs init --force)", ErrBadFile, certFile, leaf.NotAfter.Format(time.DateOnly))
	}
	pair.Leaf = leaf
	return pair, nil
}

// LoadCAPool loads one or more PEM CA certificates.
func LoadCAPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read CA: %v", ErrBadFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: %s holds no PEM CA certificate", ErrBadFile, file)
	}
	return pool, nil
}
