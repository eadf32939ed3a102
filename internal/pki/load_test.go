package pki_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/pki"
	"github.com/labfleet/labfleet/internal/tlsfiles"
)

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkErr fails unless err wraps target and its message contains every want.
func checkErr(t *testing.T, err, target error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", target)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("err = %v, want errors.Is %v", err, target)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestLoadKeyPair_Valid(t *testing.T) {
	dir := initDir(t, pki.Options{})
	c := loadPair(t, dir, "node1")
	if c.Leaf == nil || c.Leaf.Subject.CommonName != "node1" || len(c.Certificate) != 1 {
		t.Errorf("LoadKeyPair: leaf %v, %d certificates", c.Leaf, len(c.Certificate))
	}
}

func TestLoadKeyPair_AcceptsSEC1Key(t *testing.T) {
	dir := initDir(t, pki.Options{})
	b, _ := pem.Decode(readFile(t, filepath.Join(dir, "node1.key")))
	key, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1 := writeFile(t, filepath.Join(dir, "sec1.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if _, err := tlsfiles.LoadKeyPair(filepath.Join(dir, "node1.crt"), sec1); err != nil {
		t.Error(err)
	}
}

func TestLoadKeyPair_MismatchNamesBothFiles(t *testing.T) {
	dir := initDir(t, pki.Options{})
	crt, key := filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node2.key")
	_, err := tlsfiles.LoadKeyPair(crt, key)
	checkErr(t, err, tlsfiles.ErrKeyMismatch, "certificate "+crt+" and key "+key+" do not match")
}

func TestLoadKeyPair_FileProblems(t *testing.T) {
	dir := initDir(t, pki.Options{})
	crt, key := filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node1.key")
	missing := filepath.Join(dir, "nope.crt")
	garbage := writeFile(t, filepath.Join(dir, "garbage.crt"), []byte("this is not a certificate\n"))
	der := writeFile(t, filepath.Join(dir, "der.crt"), func() []byte { b, _ := pem.Decode(readFile(t, crt)); return b.Bytes }())
	encrypted := writeFile(t, filepath.Join(dir, "enc.key"), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}))

	tests := []struct {
		name      string
		crt, key  string
		target    error
		wantParts []string
	}{
		{"missing cert", missing, key, fs.ErrNotExist, []string{"cannot read certificate " + missing + ": no such file or directory"}},
		{"missing key", crt, missing, fs.ErrNotExist, []string{"cannot read key " + missing + ":"}},
		{"cert not PEM", garbage, key, tlsfiles.ErrBadFormat, []string{"cannot load certificate " + garbage, "no PEM certificate"}},
		{"cert is DER", der, key, tlsfiles.ErrBadFormat, []string{"cannot load certificate " + der}},
		{"key not PEM", crt, garbage, tlsfiles.ErrBadFormat, []string{"cannot load key " + garbage, "no PEM private key"}},
		{"swapped", key, crt, tlsfiles.ErrBadFormat, []string{"cannot load certificate " + key, "are the certificate and key files swapped?"}},
		{"encrypted key", crt, encrypted, tlsfiles.ErrBadFormat, []string{"cannot load key " + encrypted, "encrypted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tlsfiles.LoadKeyPair(tt.crt, tt.key)
			checkErr(t, err, tt.target, tt.wantParts...)
		})
	}
}

func TestLoadKeyPair_ExpiredCertificateGivesDate(t *testing.T) {
	issued := time.Now().Add(-400 * 24 * time.Hour).Truncate(time.Second)
	dir := initDir(t, pki.Options{Now: func() time.Time { return issued }, Validity: 90 * 24 * time.Hour})
	crt := filepath.Join(dir, "node1.crt")
	_, err := tlsfiles.LoadKeyPair(crt, filepath.Join(dir, "node1.key"))
	expiry := issued.Add(90 * 24 * time.Hour).UTC().Format("2006-01-02 15:04:05 UTC")
	checkErr(t, err, tlsfiles.ErrExpired, crt, "expired on "+expiry, "labcontroller certs renew")

	// The CA lives on, so the pool still loads.
	if _, err := tlsfiles.LoadCAPool(filepath.Join(dir, "ca.crt")); err != nil {
		t.Error(err)
	}
}

func TestLoadKeyPair_NotYetValid(t *testing.T) {
	dir := initDir(t, pki.Options{Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	_, err := tlsfiles.LoadKeyPair(filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node1.key"))
	checkErr(t, err, tlsfiles.ErrNotYetValid, "valid from", "clock")
}

func TestLoadCAPool_Problems(t *testing.T) {
	dir := initDir(t, pki.Options{})
	ca, caKey, node := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), filepath.Join(dir, "node1.crt")
	bundle := writeFile(t, filepath.Join(dir, "bundle.pem"), append(readFile(t, ca), readFile(t, caKey)...))
	old := initDir(t, pki.Options{Now: func() time.Time { return time.Now().Add(-11 * 365 * 24 * time.Hour) }, Validity: time.Hour})
	oldCA := filepath.Join(old, "ca.crt")

	tests := []struct {
		name, file string
		target     error
		want       []string
	}{
		{"missing", filepath.Join(dir, "nope.crt"), fs.ErrNotExist, []string{"cannot read CA certificate"}},
		{"key instead of cert", caKey, tlsfiles.ErrBadFormat, []string{caKey, "private key"}},
		{"cert and key bundled", bundle, tlsfiles.ErrBadFormat, []string{bundle, "private key"}},
		{"leaf instead of CA", node, tlsfiles.ErrNotCA, []string{node, `"node1" is a leaf certificate`}},
		{"expired CA", oldCA, tlsfiles.ErrExpired, []string{oldCA, "expired on", "certs init --force"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tlsfiles.LoadCAPool(tt.file)
			checkErr(t, err, tt.target, tt.want...)
		})
	}
}
