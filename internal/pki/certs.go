// Package pki creates and renews the TLS material labfleet uses for mutual
// TLS between the labagents and their callers: one private CA, a server
// certificate per node, a client certificate for the controller (role
// deploy) and one for monitoring (role monitoring, used by the Nagios
// plugins). The role is written into the client certificate (see RoleURI).
//
// It backs "labcontroller certs init" and "certs renew"; the tests make
// their certificates with it too. It must never overwrite key material
// without being told to (Options.Force), never leave a half-written file
// behind, and never write a private key readable by anyone but its owner.
package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrExists is returned (wrapped with the file names) when Init would replace
// existing files and Options.Force is not set.
var ErrExists = errors.New("files already exist")

// ErrInvalidOptions is returned (wrapped with the reason) for options Init
// cannot act on, such as an invalid or duplicate node name.
var ErrInvalidOptions = errors.New("invalid certs options")

const (
	// DefaultClientName is the client certificate's name when
	// Options.ClientName is empty.
	DefaultClientName = "labcontroller"
	// DefaultMonitoringName is the monitoring certificate's name when
	// Options.MonitoringName is empty.
	DefaultMonitoringName = "nagios"
	// DefaultValidity is the leaf lifetime when Options.Validity is zero:
	// 825 days is the longest lifetime macOS and iOS accept for a server
	// certificate, so operators can also point browsers and curl at an agent.
	DefaultValidity = 825 * 24 * time.Hour
	// caValidity is long because replacing the CA means re-issuing every
	// certificate in the fleet at once.
	caValidity = 10 * 365 * 24 * time.Hour
	// backdate covers clock skew between the controller and the nodes, so a
	// freshly issued certificate is not "not yet valid" on a node whose clock
	// is a little behind.
	backdate = time.Hour
)

// Options says what Init writes and where.
type Options struct {
	// Dir receives every file; it is created (mode 0700) if missing. An
	// existing directory keeps its mode: the key files are 0600 anyway.
	Dir string
	// Hosts get one server certificate each.
	Hosts []Host
	// ClientName is the controller's client certificate's CommonName and
	// file name; "" means DefaultClientName. It gets the deploy role.
	ClientName string
	// MonitoringName is the monitoring client certificate's CommonName
	// and file name; "" means DefaultMonitoringName. It gets the
	// monitoring role: the Nagios plugins use it.
	MonitoringName string
	// Validity is the lifetime of the node and client certificates; 0 means
	// DefaultValidity. The CA lives 10 years, or as long as Validity if
	// that is longer.
	Validity time.Duration
	// Force replaces existing files, including the CA, which invalidates
	// every certificate issued from the old one.
	Force bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Host is a node that gets a server certificate.
type Host struct {
	// Name is a DNS label; it names the files and is always a DNS SAN.
	Name string
	// Addrs are IP addresses or DNS names the agent is reached at.
	Addrs []string
}

// Result lists what Init wrote.
type Result struct {
	// Files are the paths written, CA first.
	Files []string
}

// Init creates a CA and issues a server certificate per host and two client
// certificates (the controller's, role deploy, and the monitoring one, role
// monitoring), writing each as NAME.crt and NAME.key in opts.Dir. It checks
// every target before writing any, so without Force an existing file leaves
// the directory untouched. Keys are generated before anything is written; if
// a write still fails, the returned Result lists the files already replaced.
func Init(opts Options) (*Result, error) {
	if err := opts.fillDefaults(); err != nil {
		return nil, err
	}
	now := opts.Now()

	ca, err := newCA(now, max(caValidity, opts.Validity))
	if err != nil {
		return nil, err
	}
	files := []pemFile{
		{name: "ca.crt", data: ca.certPEM, mode: certMode},
		{name: "ca.key", data: ca.keyPEM, mode: keyMode},
	}
	for _, h := range opts.Hosts {
		leaf, err := ca.issueServer(h, now, opts.Validity)
		if err != nil {
			return nil, fmt.Errorf("cannot issue certificate for %s: %w", h.Name, err)
		}
		files = append(files, leaf.files(h.Name)...)
	}
	for _, c := range []struct{ name, role string }{{opts.ClientName, RoleDeploy}, {opts.MonitoringName, RoleMonitoring}} {
		client, err := ca.issueClient(c.name, c.role, now, opts.Validity)
		if err != nil {
			return nil, fmt.Errorf("cannot issue client certificate %s: %w", c.name, err)
		}
		files = append(files, client.files(c.name)...)
	}

	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create certificate directory: %w", err)
	}
	for i := range files {
		files[i].path = filepath.Join(opts.Dir, files[i].name)
	}
	if !opts.Force {
		if err := refuseExisting(opts.Dir, files); err != nil {
			return nil, err
		}
	}
	res := &Result{}
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

// fillDefaults applies defaults and rejects options that would produce
// colliding or unusable files.
func (o *Options) fillDefaults() error {
	if o.Dir == "" {
		return fmt.Errorf("%w: no directory given", ErrInvalidOptions)
	}
	if len(o.Hosts) == 0 {
		return fmt.Errorf("%w: no hosts given", ErrInvalidOptions)
	}
	if o.ClientName == "" {
		o.ClientName = DefaultClientName
	}
	if o.MonitoringName == "" {
		o.MonitoringName = DefaultMonitoringName
	}
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	if o.Validity < 0 {
		return fmt.Errorf("%w: validity %v is negative", ErrInvalidOptions, o.Validity)
	}
	if o.Now == nil {
		o.Now = time.Now
	}

	// Names become file names, so they must be unique ignoring case (DNS
	// and some filesystems ignore it) and must not collide with the CA.
	owner := map[string]string{"ca": "the CA"}
	claim := func(name, what string) error {
		if err := checkLabel(name); err != nil {
			return fmt.Errorf("%w: %s %q: %v", ErrInvalidOptions, what, name, err)
		}
		key := strings.ToLower(name)
		if prev, ok := owner[key]; ok {
			return fmt.Errorf("%w: %s %q uses the same file names as %s", ErrInvalidOptions, what, name, prev)
		}
		owner[key] = fmt.Sprintf("%s %q", what, name)
		return nil
	}
	for _, h := range o.Hosts {
		if err := claim(h.Name, "node"); err != nil {
			return err
		}
		for _, a := range h.Addrs {
			if err := checkAddr(a); err != nil {
				return fmt.Errorf("%w: node %q address %q: %v", ErrInvalidOptions, h.Name, a, err)
			}
		}
	}
	if err := claim(o.ClientName, "client"); err != nil {
		return err
	}
	return claim(o.MonitoringName, "monitoring client")
}
