// Package tlsfiles loads certificates, keys and CA bundles from PEM files for
// the agent, the controller and the plugins, with errors that name the file
// and say what is wrong with it and how to fix it. It never logs or returns
// key material.
package tlsfiles

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

var (
	ErrBadFormat   = errors.New("wrong file format")
	ErrKeyMismatch = errors.New("the key belongs to a different certificate")
	ErrExpired     = errors.New("certificate expired")
	ErrNotYetValid = errors.New("certificate not yet valid")
	ErrNotCA       = errors.New("not a CA certificate")
)

const timeFormat = "2006-01-02 15:04:05 MST"

func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readFile("certificate", certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readFile("key", keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	chain, err := parseCerts(certPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load certificate %s: %w", certFile, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load key %s: %w", keyFile, err)
	}
	leaf := chain[0]
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, fmt.Errorf("certificate %s and key %s do not match: %w", certFile, keyFile, ErrKeyMismatch)
	}
	if err := checkValidity(leaf, time.Now()); err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load certificate %s: %w", certFile, err)
	}
	tc := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

func LoadCAPool(file string) (*x509.CertPool, error) {
	data, err := readFile("CA certificate", file)
	if err != nil {
		return nil, err
	}
	if hasBlock(data, isKeyBlock) {
		return nil, fmt.Errorf("cannot load CA certificate %s: %w: it holds a private key; give the CA certificate (ca.crt) only", file, ErrBadFormat)
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("cannot load CA certificate %s: %w", file, err)
	}
	pool := x509.NewCertPool()
	now := time.Now()
	for _, c := range certs {
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("cannot load CA certificate %s: %w: %q is a leaf certificate; give the CA certificate (ca.crt)", file, ErrNotCA, c.Subject.CommonName)
		}
		if err := checkValidity(c, now); err != nil {
			return nil, fmt.Errorf("cannot load CA certificate %s: %w", file, err)
		}
		pool.AddCert(c)
	}
	return pool, nil
}

func readFile(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in our message
		}
		return nil, fmt.Errorf("cannot read %s %s: %w", what, path, err)
	}
	return b, nil
}

func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) > 0 {
		return certs, nil
	}
	if hasBlock(data, isKeyBlock) {
		return nil, fmt.Errorf("%w: it holds a private key, not a certificate; are the certificate and key files swapped?", ErrBadFormat)
	}
	return nil, fmt.Errorf("%w: no PEM certificate (-----BEGIN CERTIFICATE-----) in it", ErrBadFormat)
}

func parseKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if !isKeyBlock(b) {
			continue
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, fmt.Errorf("%w: the key is encrypted; labfleet needs an unencrypted key (protect it with mode 0600)", ErrBadFormat)
		}
		var key any
		var err error
		switch b.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot parse %s: %w", b.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: %T keys cannot sign TLS handshakes", ErrBadFormat, key)
		}
		return signer, nil
	}
	if hasBlock(data, func(b *pem.Block) bool { return b.Type == "CERTIFICATE" }) {
		return nil, fmt.Errorf("%w: it holds a certificate, not a private key; are the certificate and key files swapped?", ErrBadFormat)
	}
	return nil, fmt.Errorf("%w: no PEM private key (-----BEGIN PRIVATE KEY-----) in it", ErrBadFormat)
}

func isKeyBlock(b *pem.Block) bool { return strings.HasSuffix(b.Type, "PRIVATE KEY") }

func hasBlock(data []byte, match func(*pem.Block) bool) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if match(b) {
			return true
		}
	}
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.After(c.NotAfter) {
		return fmt.Errorf("%w on %s; issue new ones with labcontroller certs init --force", ErrExpired, c.NotAfter.UTC().Format(timeFormat))
	}
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%w: valid from %s; check this machine's clock", ErrNotYetValid, c.NotBefore.UTC().Format(timeFormat))
	}
	return nil
}
