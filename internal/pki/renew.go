package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/labfleet/labfleet/internal/tlsfiles"
)

// ErrNoCA is returned (wrapped with what is missing) when Renew finds no
// CA certificate and key to issue from.
var ErrNoCA = errors.New("no CA to renew from")

// ErrCAExpired is returned (wrapped with the date) when the CA in the
// directory has expired: what it signs would not verify anywhere.
var ErrCAExpired = errors.New("the CA has expired")

// RenewOptions says where Renew works and how.
type RenewOptions struct {
	// Dir holds ca.crt, ca.key and the certificates to renew, as Init
	// wrote them.
	Dir string
	// Validity is the new certificates' lifetime; 0 means DefaultValidity.
	// It is cut short at the CA's own expiry.
	Validity time.Duration
	// MonitoringName names the monitoring certificate Renew issues when
	// Dir has none (a directory made before roles existed); "" means
	// DefaultMonitoringName.
	MonitoringName string
	// NewKeys makes a new key for every certificate. Without it each
	// certificate keeps its key, so only the .crt files change.
	NewKeys bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Renewal is one certificate Renew wrote.
type Renewal struct {
	// Path is the certificate file; KeyPath the key file, when a new key
	// was written.
	Path, KeyPath string
	// Name is the CommonName; Kind "server" or "client"; Role the client
	// certificate's role.
	Name, Kind, Role string
	// NotAfter is the new expiry.
	NotAfter time.Time
	// Issued is set for a certificate that did not exist before (the
	// monitoring certificate of an old directory).
	Issued bool
}

// RenewResult lists what Renew did.
type RenewResult struct {
	Renewed []Renewal
	// Files are every path written, in order.
	Files []string
	// Skipped are certificates left alone, each "FILE: why".
	Skipped []string
	// Warnings are things the user should know, such as a role filled in.
	Warnings []string
}

// Renew re-issues every node and client certificate in opts.Dir from the
// CA there (ca.crt, ca.key), keeping each one's names, addresses, usage and
// role, with a new validity. The CA is never changed, so callers and agents
// that trust it keep working while the new files are rolled out. Client
// certificates made before roles existed get the deploy role (certs init
// made them for the controller), and a monitoring certificate is issued
// when there is none. Certificates signed by another CA are skipped.
// Everything is checked before anything is written.
func Renew(opts RenewOptions) (*RenewResult, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: no directory given", ErrInvalidOptions)
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultValidity
	}
	if opts.Validity < 0 {
		return nil, fmt.Errorf("%w: validity %v is negative", ErrInvalidOptions, opts.Validity)
	}
	if opts.MonitoringName == "" {
		opts.MonitoringName = DefaultMonitoringName
	}
	if err := checkLabel(opts.MonitoringName); err != nil {
		return nil, fmt.Errorf("%w: monitoring client %q: %v", ErrInvalidOptions, opts.MonitoringName, err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	now := opts.Now()
	ca, err := loadCA(opts.Dir, now)
	if err != nil {
		return nil, err
	}
	res := &RenewResult{}
	notAfter := now.Add(opts.Validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
		res.Warnings = append(res.Warnings, fmt.Sprintf("ca.crt expires on %s, so the renewed certificates end then too; "+
			"make a new CA (certs init --force) and roll it out before then", ca.cert.NotAfter.UTC().Format(timeFormat)))
	}

	plans, err := planRenewals(opts, ca, res)
	if err != nil {
		return nil, err
	}
	var files []pemFile
	for i := range plans {
		p := &plans[i]
		out, err := signKey(p.tmpl, p.key, now.Add(-backdate), notAfter, ca)
		if err != nil {
			return nil, fmt.Errorf("cannot renew %s: %w", p.Path, err)
		}
		p.NotAfter = out.cert.NotAfter
		files = append(files, pemFile{name: p.name + ".crt", path: p.Path, data: out.certPEM, mode: certMode})
		if p.KeyPath != "" {
			files = append(files, pemFile{name: p.name + ".key", path: p.KeyPath, data: out.keyPEM, mode: keyMode})
		}
		res.Renewed = append(res.Renewed, p.Renewal)
	}
	for _, f := range files {
		if err := writeFileAtomic(f.path, f.data, f.mode); err != nil {
			return res, err
		}
		res.Files = append(res.Files, f.path)
	}
	if err := syncDir(opts.Dir); err != nil {
		return res, err
	}
	return res, nil
}

const timeFormat = "2006-01-02 15:04 MST"

// loadCA loads the CA certificate and key from dir and checks that they
// can still sign.
func loadCA(dir string, now time.Time) (*issued, error) {
	crtPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	for _, p := range []string{crtPath, keyPath} {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist; renew issues from the CA that certs init made in --dir "+
				"(ca.key stays on the control server); give that directory, or make a new CA with certs init", ErrNoCA, p)
		}
	}
	certs, err := tlsfiles.LoadCertificates(crtPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCA, err)
	}
	cert := certs[0]
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("%w: %s is not a CA certificate", ErrNoCA, crtPath)
	}
	key, err := tlsfiles.LoadKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCA, err)
	}
	if !samePublicKey(key, cert) {
		return nil, fmt.Errorf("%w: %s does not belong to %s", ErrNoCA, keyPath, crtPath)
	}
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%w: %s expired on %s, and every certificate it signed stopped verifying then; "+
			"make a new set with certs init --force and give every node its new files", ErrCAExpired, crtPath, cert.NotAfter.UTC().Format(timeFormat))
	}
	return &issued{cert: cert, key: key}, nil
}

// renewal is one certificate Renew is about to sign.
type renewal struct {
	Renewal
	name string // file base name without .crt
	tmpl *x509.Certificate
	key  crypto.Signer
}

// planRenewals reads every leaf certificate in the directory and decides
// what to sign, failing on the first problem before anything is written.
func planRenewals(opts RenewOptions, ca *issued, res *RenewResult) ([]renewal, error) {
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", opts.Dir, err)
	}
	var plans []renewal
	hasMonitoring := false
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".crt")
		if !ok || name == "ca" || strings.HasPrefix(name, ".") || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(opts.Dir, e.Name())
		certs, err := tlsfiles.LoadCertificates(path)
		if err != nil {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %v", path, errors.Unwrap(err)))
			continue
		}
		old := certs[0]
		if err := old.CheckSignatureFrom(ca.cert); err != nil {
			res.Skipped = append(res.Skipped, path+": not issued by ca.crt")
			continue
		}
		p := renewal{name: name, tmpl: &x509.Certificate{
			Subject:     old.Subject,
			KeyUsage:    old.KeyUsage,
			ExtKeyUsage: old.ExtKeyUsage,
			DNSNames:    old.DNSNames,
			IPAddresses: old.IPAddresses,
			URIs:        old.URIs,
		}}
		p.Path, p.Name = path, old.Subject.CommonName
		switch {
		case slices.Contains(old.ExtKeyUsage, x509.ExtKeyUsageServerAuth):
			p.Kind = "server"
		case slices.Contains(old.ExtKeyUsage, x509.ExtKeyUsageClientAuth):
			p.Kind = "client"
			role, err := CertRole(old)
			if err != nil {
				return nil, fmt.Errorf("cannot renew %s: %w", path, err)
			}
			if role == "" {
				role = RoleDeploy
				p.tmpl.URIs = append(slices.Clone(old.URIs), RoleURI(role))
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s carried no role (made before roles existed, for labcontroller); "+
					"renewed with role deploy, which may call every RPC", path))
			}
			p.Role = role
			hasMonitoring = hasMonitoring || role == RoleMonitoring
		default:
			res.Skipped = append(res.Skipped, path+": neither a server nor a client certificate")
			continue
		}
		if p.key, p.KeyPath, err = renewalKey(opts, name, old); err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	if !hasMonitoring {
		p, err := newMonitoring(opts)
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// renewalKey is the key a renewed certificate gets: its own, or a new one
// with NewKeys (then keyPath names where it goes).
func renewalKey(opts RenewOptions, name string, old *x509.Certificate) (key crypto.Signer, keyPath string, err error) {
	path := filepath.Join(opts.Dir, name+".key")
	if opts.NewKeys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, "", fmt.Errorf("cannot generate key: %w", err)
		}
		return k, path, nil
	}
	k, err := tlsfiles.LoadKey(path)
	if err != nil {
		return nil, "", fmt.Errorf("%w; renew keeps each certificate's key: put it back, or give --new-keys to make new ones", err)
	}
	if !samePublicKey(k, old) {
		return nil, "", fmt.Errorf("%s does not belong to %s.crt: %w; give --new-keys to make new keys", path, name, tlsfiles.ErrKeyMismatch)
	}
	return k, "", nil
}

// newMonitoring plans the monitoring certificate of a directory that has
// none, refusing to replace a file of the same name.
func newMonitoring(opts RenewOptions) (renewal, error) {
	name := opts.MonitoringName
	for _, f := range []string{name + ".crt", name + ".key"} {
		if _, err := os.Lstat(filepath.Join(opts.Dir, f)); err == nil {
			return renewal{}, fmt.Errorf("%w in %s: %s, but it is not a monitoring certificate of this CA; "+
				"give --monitoring-name another name for the monitoring certificate", ErrExists, opts.Dir, f)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return renewal{}, fmt.Errorf("cannot generate key: %w", err)
	}
	p := renewal{name: name, key: key, tmpl: clientTemplate(name, RoleMonitoring)}
	p.Path, p.KeyPath = filepath.Join(opts.Dir, name+".crt"), filepath.Join(opts.Dir, name+".key")
	p.Name, p.Kind, p.Role, p.Issued = name, "client", RoleMonitoring, true
	return p, nil
}

func samePublicKey(key crypto.Signer, c *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(c.PublicKey)
}
