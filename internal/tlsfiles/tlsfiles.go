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

// Errors, wrapped with the file name and what to do.
var (
	ErrBadFormat   = errors.New("wrong file format")
	ErrKeyMismatch = errors.New("the key belongs to a different certificate")
	ErrExpired     = errors.New("certificate expired")
	ErrNotYetValid = errors.New("certificate not yet valid")
	ErrNotCA       = errors.New("not a CA certificate")
	// ErrReadable marks a key or secret file other users may read.
	ErrReadable = errors.New("secret file readable by other users")
)

const timeFormat = "2006-01-02 15:04:05 MST"

// LoadKeyPair loads a certificate (chain) and its key, checking that they
// match and that the certificate is valid now.
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

// LoadCAPool loads a bundle of CA certificates, each valid now.
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

// LoadCertificates returns the certificates in a PEM file, first one first,
// without checking their validity: for tools that inspect or renew them.
func LoadCertificates(file string) ([]*x509.Certificate, error) {
	data, err := readFile("certificate", file)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("cannot load certificate %s: %w", file, err)
	}
	return certs, nil
}

// LoadKey returns the private key in a PEM file (PKCS#8, SEC 1 or PKCS#1).
func LoadKey(file string) (crypto.Signer, error) {
	data, err := readFile("key", file)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("cannot load key %s: %w", file, err)
	}
	return key, nil
}

// CheckPrivate fails with ErrReadable when every user on the machine may
// read or write file (a key or a token): its mode gives "other" read or
// write permission. Group permissions are allowed, so a file can be shared
// with a service's group (root:nagios 0640).
func CheckPrivate(file string) error {
	st, err := os.Stat(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot check %s: %w", file, err)
	}
	if perm := st.Mode().Perm(); perm&0o006 != 0 {
		return fmt.Errorf("%w: %s has mode %04o, so every user on this machine can read it; chmod 600 %s (or 640 for a group)",
			ErrReadable, file, perm, file)
	}
	return nil
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
		if c.IsCA {
			return fmt.Errorf("%w on %s; make a new CA and certificates with labcontroller certs init --force", ErrExpired, c.NotAfter.UTC().Format(timeFormat))
		}
		return fmt.Errorf("%w on %s; issue new ones from the same CA with labcontroller certs renew", ErrExpired, c.NotAfter.UTC().Format(timeFormat))
	}
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%w: valid from %s; check this machine's clock", ErrNotYetValid, c.NotBefore.UTC().Format(timeFormat))
	}
	return nil
}
