package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/pki"
	"github.com/labfleet/labfleet/internal/tlsfiles"
)

var testHosts = []pki.Host{
	{Name: "node1", Addrs: []string{"127.0.0.11", "node1.lab.example"}},
	{Name: "node2", Addrs: []string{"127.0.0.12", "::1"}},
}

// initDir runs Init into a fresh directory and returns it.
func initDir(t *testing.T, opts pki.Options) string {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "pki")
	}
	if opts.Hosts == nil {
		opts.Hosts = testHosts
	}
	if _, err := pki.Init(opts); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return opts.Dir
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// snapshot returns every file in dir with its contents.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

var allFiles = []string{"ca.crt", "ca.key", "labcontroller.crt", "labcontroller.key", "nagios.crt", "nagios.key", "node1.crt", "node1.key", "node2.crt", "node2.key"}

func TestInit_WritesEveryFileWithPrivateKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	res, err := pki.Init(pki.Options{Dir: dir, Hosts: testHosts})
	if err != nil {
		t.Fatal(err)
	}
	var written []string
	for _, f := range res.Files {
		if filepath.Dir(f) != dir {
			t.Errorf("Result file %s is not in %s", f, dir)
		}
		written = append(written, filepath.Base(f))
	}
	slices.Sort(written)
	if !slices.Equal(written, allFiles) {
		t.Errorf("Result.Files = %v, want %v", written, allFiles)
	}
	// Nothing else, such as leftover temp files.
	var onDisk []string
	for name := range snapshot(t, dir) {
		onDisk = append(onDisk, name)
	}
	slices.Sort(onDisk)
	if !slices.Equal(onDisk, allFiles) {
		t.Errorf("directory holds %v, want %v", onDisk, allFiles)
	}

	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("%s mode = %v, want 0700", dir, st.Mode().Perm())
	}
	for _, name := range allFiles {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			want = 0o600
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", name, st.Mode().Perm(), want)
		}
	}
}

func TestInit_CertificatesChainToCAWithRightUsageAndNames(t *testing.T) {
	dir := initDir(t, pki.Options{ClientName: "ops-laptop", Validity: 30 * 24 * time.Hour})
	ca := readCert(t, filepath.Join(dir, "ca.crt"))
	if !ca.IsCA || !ca.MaxPathLenZero {
		t.Errorf("CA: IsCA=%v MaxPathLenZero=%v", ca.IsCA, ca.MaxPathLenZero)
	}
	if life := ca.NotAfter.Sub(ca.NotBefore); life < 10*365*24*time.Hour {
		t.Errorf("CA lifetime %v, want at least 10 years", life)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}

	verify := func(name, dnsName string, usage []x509.ExtKeyUsage) error {
		c := readCert(t, filepath.Join(dir, name+".crt"))
		_, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: dnsName, KeyUsages: usage})
		return err
	}
	for _, tt := range []struct {
		cert, name string
		usage      []x509.ExtKeyUsage
		ok         bool
	}{
		{"node1", "node1", server, true},
		{"node1", "127.0.0.11", server, true},
		{"node1", "node1.lab.example", server, true},
		{"node1", "127.0.0.12", server, false},
		{"node1", "node2", server, false},
		{"node1", "node1", client, false},
		{"node2", "node2", server, true},
		{"node2", "127.0.0.12", server, true},
		{"node2", "::1", server, true},
		{"ops-laptop", "", client, true},
		{"ops-laptop", "", server, false},
	} {
		err := verify(tt.cert, tt.name, tt.usage)
		if (err == nil) != tt.ok {
			t.Errorf("%s.crt for %q usage %v: err = %v, want ok=%v", tt.cert, tt.name, tt.usage, err, tt.ok)
		}
	}

	n1 := readCert(t, filepath.Join(dir, "node1.crt"))
	if !slices.Equal(n1.DNSNames, []string{"node1", "node1.lab.example"}) ||
		len(n1.IPAddresses) != 1 || !n1.IPAddresses[0].Equal(net.ParseIP("127.0.0.11")) {
		t.Errorf("node1 SANs: DNS %v IP %v", n1.DNSNames, n1.IPAddresses)
	}
	if n1.Subject.CommonName != "node1" {
		t.Errorf("node1 CN = %q", n1.Subject.CommonName)
	}
	if life := n1.NotAfter.Sub(n1.NotBefore); life < 30*24*time.Hour || life > 31*24*time.Hour {
		t.Errorf("node1 lifetime %v, want 30 days plus clock-skew margin", life)
	}
	cl := readCert(t, filepath.Join(dir, "ops-laptop.crt"))
	if cl.Subject.CommonName != "ops-laptop" {
		t.Errorf("client CN = %q", cl.Subject.CommonName)
	}
	if pub, ok := cl.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("client key is %T, want ECDSA P-256", cl.PublicKey)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ops-laptop.key"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key is not a PKCS#8 PEM block: %.40q", keyPEM)
	} else if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
		t.Errorf("key does not parse as PKCS#8: %v", err)
	}
}

func TestInit_DefaultLifetimes(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dir := initDir(t, pki.Options{Now: func() time.Time { return now }})
	if got, want := readCert(t, filepath.Join(dir, "node1.crt")).NotAfter, now.Add(825*24*time.Hour); !got.Equal(want) {
		t.Errorf("node1 NotAfter = %v, want %v", got, want)
	}
	if got, want := readCert(t, filepath.Join(dir, "ca.crt")).NotAfter, now.Add(10*365*24*time.Hour); !got.Equal(want) {
		t.Errorf("CA NotAfter = %v, want %v", got, want)
	}
	if got := readCert(t, filepath.Join(dir, "node1.crt")).NotBefore; !got.Before(now) {
		t.Errorf("NotBefore = %v, want backdated before %v for clock skew", got, now)
	}
}

func TestInit_RefusesToOverwriteAndWritesNothing(t *testing.T) {
	dir := initDir(t, pki.Options{})
	before := snapshot(t, dir)

	_, err := pki.Init(pki.Options{Dir: dir, Hosts: testHosts})
	if !errors.Is(err, pki.ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	for _, want := range []string{"files already exist in " + dir + ": ca.crt, ca.key, node1.crt", "node2.crt", "labcontroller.key", "use --force to replace them"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	after := snapshot(t, dir)
	if len(after) != len(before) {
		t.Errorf("files changed: before %d, after %d", len(before), len(after))
	}
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("%s changed although Init refused", name)
		}
	}
}

func TestInit_OneExistingFileBlocksAllWrites(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node2.key"), []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := pki.Init(pki.Options{Dir: dir, Hosts: testHosts})
	if !errors.Is(err, pki.ErrExists) || !strings.HasSuffix(err.Error(), ": node2.key; use --force to replace them") {
		t.Fatalf("err = %v, want ErrExists naming node2.key only", err)
	}
	if files := snapshot(t, dir); len(files) != 1 || string(files["node2.key"]) != "precious" {
		t.Errorf("directory after refusal: %d files, node2.key = %q", len(files), files["node2.key"])
	}
}

func TestInit_ForceReplacesEverything(t *testing.T) {
	dir := initDir(t, pki.Options{})
	before := snapshot(t, dir)
	if _, err := pki.Init(pki.Options{Dir: dir, Hosts: testHosts, Force: true}); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	for _, name := range allFiles {
		if bytes.Equal(before[name], after[name]) {
			t.Errorf("%s was not replaced", name)
		}
	}
	if len(after) != len(allFiles) {
		t.Errorf("directory holds %d files, want %d", len(after), len(allFiles))
	}
	// The new leaves chain to the new CA, not the old one.
	if _, err := tlsfiles.LoadKeyPair(filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node1.key")); err != nil {
		t.Error(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(dir, "ca.crt")))
	if _, err := readCert(t, filepath.Join(dir, "node1.crt")).Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Errorf("replaced node1.crt does not chain to replaced CA: %v", err)
	}
}

func TestInit_RejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts pki.Options
		want string
	}{
		{"no hosts", pki.Options{Hosts: []pki.Host{}}, "no hosts"},
		{"bad node name", pki.Options{Hosts: []pki.Host{{Name: "node_1"}}}, `node "node_1"`},
		{"path in name", pki.Options{Hosts: []pki.Host{{Name: "../etc"}}}, `node "../etc"`},
		{"duplicate node", pki.Options{Hosts: []pki.Host{{Name: "node1"}, {Name: "NODE1"}}}, `same file names as node "node1"`},
		{"node named ca", pki.Options{Hosts: []pki.Host{{Name: "ca"}}}, "same file names as the CA"},
		{"client named like node", pki.Options{Hosts: testHosts, ClientName: "node2"}, `client "node2" uses the same file names as node "node2"`},
		{"monitoring named like client", pki.Options{Hosts: testHosts, MonitoringName: "labcontroller"}, `monitoring client "labcontroller" uses the same file names as client "labcontroller"`},
		{"bad monitoring name", pki.Options{Hosts: testHosts, MonitoringName: "nagios/x"}, `monitoring client "nagios/x"`},
		{"bad address", pki.Options{Hosts: []pki.Host{{Name: "n", Addrs: []string{"10.0.0.300"}}}}, `address "10.0.0.300"`},
		{"negative validity", pki.Options{Hosts: testHosts, Validity: -time.Hour}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Dir = filepath.Join(t.TempDir(), "pki")
			_, err := pki.Init(tt.opts)
			if !errors.Is(err, pki.ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalidOptions mentioning %q", err, tt.want)
			}
			if _, err := os.Stat(tt.opts.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Init created %s despite bad options", tt.opts.Dir)
			}
		})
	}
}

func TestInit_ClientCertificatesCarryTheirRoles(t *testing.T) {
	dir := initDir(t, pki.Options{ClientName: "ci", MonitoringName: "icinga"})
	for name, want := range map[string]string{"ci": pki.RoleDeploy, "icinga": pki.RoleMonitoring, "node1": ""} {
		c := readCert(t, filepath.Join(dir, name+".crt"))
		role, err := pki.CertRole(c)
		if err != nil || role != want {
			t.Errorf("%s: role %q, %v; want %q", name, role, err, want)
		}
	}
	mon := readCert(t, filepath.Join(dir, "icinga.crt"))
	if len(mon.URIs) != 1 || mon.URIs[0].String() != "labfleet://role/monitoring" || mon.Subject.CommonName != "icinga" {
		t.Errorf("monitoring certificate: CN %q, URIs %v", mon.Subject.CommonName, mon.URIs)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(dir, "ca.crt")))
	if _, err := mon.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the monitoring certificate is no client certificate of the CA: %v", err)
	}
}
