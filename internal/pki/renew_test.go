package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/pki"
	"github.com/labfleet/labfleet/internal/tlsfiles"
)

// verifyChain fails unless the certificate in dir chains to dir's ca.crt
// for usage.
func verifyChain(t *testing.T, dir, name string, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(dir, "ca.crt")))
	c := readCert(t, filepath.Join(dir, name+".crt"))
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Errorf("%s.crt does not verify against ca.crt: %v", name, err)
	}
	return c
}

func TestRenew_ReissuesEveryCertificateKeepingTheCAKeysAndNames(t *testing.T) {
	issued := time.Now().Add(-400 * 24 * time.Hour)
	dir := initDir(t, pki.Options{Now: func() time.Time { return issued }, Validity: 90 * 24 * time.Hour})
	before := snapshot(t, dir)
	if _, err := tlsfiles.LoadKeyPair(filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node1.key")); !errors.Is(err, tlsfiles.ErrExpired) {
		t.Fatalf("the set is not expired yet: %v", err)
	}
	now := time.Now()
	res, err := pki.Renew(pki.RenewOptions{Dir: dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	for _, name := range allFiles {
		changed := !bytes.Equal(before[name], after[name])
		if want := strings.HasSuffix(name, ".crt") && name != "ca.crt"; changed != want {
			t.Errorf("%s changed = %v, want %v (only the leaf certificates change)", name, changed, want)
		}
	}
	if len(after) != len(allFiles) {
		t.Errorf("directory holds %d files, want %d", len(after), len(allFiles))
	}
	var renewed []string
	for _, r := range res.Renewed {
		renewed = append(renewed, filepath.Base(r.Path)+" "+r.Kind+" "+r.Role)
		if !r.NotAfter.Equal(now.Add(pki.DefaultValidity).UTC().Truncate(time.Second)) || r.Issued || r.KeyPath != "" {
			t.Errorf("%s: until %v, issued %v, key %q", r.Path, r.NotAfter, r.Issued, r.KeyPath)
		}
	}
	want := []string{"labcontroller.crt client deploy", "nagios.crt client monitoring", "node1.crt server ", "node2.crt server "}
	if !slices.Equal(renewed, want) || len(res.Skipped) != 0 || len(res.Warnings) != 0 {
		t.Errorf("renewed %q (skipped %q, warnings %q), want %q", renewed, res.Skipped, res.Warnings, want)
	}
	n1 := verifyChain(t, dir, "node1", x509.ExtKeyUsageServerAuth)
	if !slices.Equal(n1.DNSNames, []string{"node1", "node1.lab.example"}) || len(n1.IPAddresses) != 1 || n1.Subject.CommonName != "node1" {
		t.Errorf("node1 lost its names: CN %q DNS %v IP %v", n1.Subject.CommonName, n1.DNSNames, n1.IPAddresses)
	}
	if role, _ := pki.CertRole(verifyChain(t, dir, "nagios", x509.ExtKeyUsageClientAuth)); role != pki.RoleMonitoring {
		t.Errorf("nagios has role %q after renewal", role)
	}
	for _, name := range []string{"node1", "node2", "labcontroller", "nagios"} {
		if _, err := tlsfiles.LoadKeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")); err != nil {
			t.Errorf("%s: the renewed certificate does not load with its old key: %v", name, err)
		}
	}
}

func TestRenew_NewKeys(t *testing.T) {
	dir := initDir(t, pki.Options{})
	before := snapshot(t, dir)
	res, err := pki.Renew(pki.RenewOptions{Dir: dir, NewKeys: true, Validity: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	for _, name := range allFiles {
		if changed := !bytes.Equal(before[name], after[name]); changed != !strings.HasPrefix(name, "ca.") {
			t.Errorf("%s changed = %v", name, changed)
		}
	}
	if len(res.Files) != 8 {
		t.Errorf("wrote %d files, want 4 certificates and 4 keys: %v", len(res.Files), res.Files)
	}
	for _, name := range []string{"node1", "labcontroller"} {
		c := loadPair(t, dir, name)
		if life := c.Leaf.NotAfter.Sub(time.Now()); life > 10*24*time.Hour || life < 9*24*time.Hour {
			t.Errorf("%s lives %v, want 10 days", name, life)
		}
		if st, _ := os.Stat(filepath.Join(dir, name+".key")); st.Mode().Perm() != 0o600 {
			t.Errorf("%s.key mode %v", name, st.Mode().Perm())
		}
	}
}

// signOld issues a client certificate without a role from dir's CA, as
// certs init did before roles existed.
func signOld(t *testing.T, dir, cn string) {
	t.Helper()
	caCerts, err := tlsfiles.LoadCertificates(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := tlsfiles.LoadKey(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: cn, Organization: []string{"labfleet"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCerts[0], key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	writeFile(t, filepath.Join(dir, cn+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, filepath.Join(dir, cn+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func TestRenew_ADirectoryFromBeforeRolesGetsThem(t *testing.T) {
	dir := initDir(t, pki.Options{})
	for _, f := range []string{"nagios.crt", "nagios.key", "labcontroller.crt", "labcontroller.key"} {
		os.Remove(filepath.Join(dir, f))
	}
	signOld(t, dir, "labcontroller")
	if role, _ := pki.CertRole(readCert(t, filepath.Join(dir, "labcontroller.crt"))); role != "" {
		t.Fatalf("the old certificate has role %q", role)
	}
	res, err := pki.Renew(pki.RenewOptions{Dir: dir, MonitoringName: "icinga"})
	if err != nil {
		t.Fatal(err)
	}
	if role, _ := pki.CertRole(verifyChain(t, dir, "labcontroller", x509.ExtKeyUsageClientAuth)); role != pki.RoleDeploy {
		t.Errorf("labcontroller renewed with role %q, want deploy", role)
	}
	mon := verifyChain(t, dir, "icinga", x509.ExtKeyUsageClientAuth)
	if role, _ := pki.CertRole(mon); role != pki.RoleMonitoring || mon.Subject.CommonName != "icinga" {
		t.Errorf("the new monitoring certificate: CN %q role %q", mon.Subject.CommonName, role)
	}
	last := res.Renewed[len(res.Renewed)-1]
	if !last.Issued || last.Role != pki.RoleMonitoring || last.KeyPath != filepath.Join(dir, "icinga.key") {
		t.Errorf("last renewal = %+v, want the issued monitoring certificate with its key", last)
	}
	if st, err := os.Stat(filepath.Join(dir, "icinga.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("icinga.key: %v %v", st, err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "labcontroller.crt carried no role") {
		t.Errorf("warnings %q, want one about the role filled in", res.Warnings)
	}
}

func TestRenew_Refuses(t *testing.T) {
	expiredCA := initDir(t, pki.Options{Now: func() time.Time { return time.Now().Add(-11 * 365 * 24 * time.Hour) }, Validity: time.Hour})
	noKey := initDir(t, pki.Options{})
	os.Remove(filepath.Join(noKey, "ca.key"))
	lostLeafKey := initDir(t, pki.Options{})
	os.Remove(filepath.Join(lostLeafKey, "node2.key"))
	swappedKey := initDir(t, pki.Options{})
	writeFile(t, filepath.Join(swappedKey, "node2.key"), readFile(t, filepath.Join(swappedKey, "node1.key")))
	taken := initDir(t, pki.Options{})
	other := initDir(t, pki.Options{})
	for _, f := range []string{"nagios.crt", "nagios.key"} {
		writeFile(t, filepath.Join(taken, f), readFile(t, filepath.Join(other, f)))
	}
	tests := []struct {
		name, dir string
		target    error
		want      []string
	}{
		{"empty directory", t.TempDir(), pki.ErrNoCA, []string{"ca.crt does not exist", "give that directory, or make a new CA with certs init"}},
		{"CA key elsewhere", noKey, pki.ErrNoCA, []string{filepath.Join(noKey, "ca.key") + " does not exist"}},
		{"expired CA", expiredCA, pki.ErrCAExpired, []string{"ca.crt expired on", "certs init --force"}},
		{"a key is missing", lostLeafKey, nil, []string{"node2.key", "--new-keys"}},
		{"a key does not match", swappedKey, tlsfiles.ErrKeyMismatch, []string{"node2.key does not belong to node2.crt"}},
		{"the monitoring name is taken by another CA's certificate", taken, pki.ErrExists, []string{"nagios.crt", "--monitoring-name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, tt.dir)
			_, err := pki.Renew(pki.RenewOptions{Dir: tt.dir, MonitoringName: "nagios"})
			checkErr(t, err, tt.target, tt.want...)
			after := snapshot(t, tt.dir)
			for name, b := range before {
				if !bytes.Equal(after[name], b) {
					t.Errorf("%s changed although Renew refused", name)
				}
			}
		})
	}
	if _, err := pki.Renew(pki.RenewOptions{}); !errors.Is(err, pki.ErrInvalidOptions) {
		t.Errorf("no directory: %v", err)
	}
}

func TestRenew_StopsAtTheCAsExpiryAndSkipsForeignCertificates(t *testing.T) {
	caLeft := 100 * 24 * time.Hour
	dir := initDir(t, pki.Options{Now: func() time.Time { return time.Now().Add(caLeft - 10*365*24*time.Hour) }, Validity: time.Hour})
	other := initDir(t, pki.Options{})
	foreign := writeFile(t, filepath.Join(dir, "old.crt"), readFile(t, filepath.Join(other, "node1.crt")))
	garbage := writeFile(t, filepath.Join(dir, "notes.crt"), []byte("not a certificate\n"))
	res, err := pki.Renew(pki.RenewOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, filepath.Join(dir, "ca.crt"))
	for _, r := range res.Renewed {
		if !r.NotAfter.Equal(ca.NotAfter) {
			t.Errorf("%s until %v, want the CA's expiry %v", r.Path, r.NotAfter, ca.NotAfter)
		}
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "ca.crt expires on") {
		t.Errorf("warnings %q", res.Warnings)
	}
	if len(res.Skipped) != 2 || res.Skipped[0] != garbage+": wrong file format: no PEM certificate (-----BEGIN CERTIFICATE-----) in it" ||
		res.Skipped[1] != foreign+": not issued by ca.crt" {
		t.Errorf("skipped %q", res.Skipped)
	}
	if !bytes.Equal(readFile(t, foreign), readFile(t, filepath.Join(other, "node1.crt"))) {
		t.Error("a foreign certificate was rewritten")
	}
}
