package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// issued is a certificate and its key, PEM-encoded and ready to write.
type issued struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// files names the two files of a leaf certificate.
func (i *issued) files(name string) []pemFile {
	return []pemFile{
		{name: name + ".crt", data: i.certPEM, mode: certMode},
		{name: name + ".key", data: i.keyPEM, mode: keyMode},
	}
}

// newCA creates a self-signed CA that may sign leaf certificates only
// (MaxPathLen 0), so a leaked node key cannot be used to mint more CAs.
func newCA(now time.Time, validity time.Duration) (*issued, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "labfleet CA", Organization: []string{"labfleet"}},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	ca, err := sign(tmpl, now, validity, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot create CA: %w", err)
	}
	return ca, nil
}

// issueServer issues a node's agent certificate. The node name is always a
// DNS SAN so the controller can dial by name; each address becomes an IP or
// DNS SAN so it can dial by address too.
func (ca *issued) issueServer(h Host, now time.Time, validity time.Duration) (*issued, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: h.Name, Organization: []string{"labfleet"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{h.Name},
	}
	for _, a := range h.Addrs {
		if ip := net.ParseIP(a); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if a != h.Name {
			tmpl.DNSNames = append(tmpl.DNSNames, a)
		}
	}
	return sign(tmpl, now, validity, ca)
}

// issueClient issues a client certificate with role written in it (see
// RoleURI). The agent uses the CommonName as the caller's identity and the
// role to authorize its calls.
func (ca *issued) issueClient(name, role string, now time.Time, validity time.Duration) (*issued, error) {
	return sign(clientTemplate(name, role), now, validity, ca)
}

func clientTemplate(name, role string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"labfleet"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{RoleURI(role)},
	}
}

// sign generates a P-256 key for tmpl and signs it with parent, or
// self-signs it when parent is nil.
func sign(tmpl *x509.Certificate, now time.Time, validity time.Duration, parent *issued) (*issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cannot generate key: %w", err)
	}
	return signKey(tmpl, key, now.Add(-backdate), now.Add(validity), parent)
}

// signKey signs tmpl for key, valid from notBefore to notAfter, with parent,
// or self-signs it when parent is nil.
func signKey(tmpl *x509.Certificate, key crypto.Signer, notBefore, notAfter time.Time, parent *issued) (*issued, error) {
	// 128 random bits: serials must be unique per CA, and random ones stay
	// unique across re-runs of init with --force and of renew.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("cannot generate serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = notBefore.UTC()
	tmpl.NotAfter = notAfter.UTC()

	parentCert, signer := tmpl, key
	if parent != nil {
		parentCert, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("cannot sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("cannot parse new certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("cannot encode key: %w", err)
	}
	return &issued{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}
