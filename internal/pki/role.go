package pki

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
)

// Roles written into client certificates. The agent reads them with
// CertRole and allows a monitoring caller the read-only RPCs only.
const (
	RoleDeploy     = "deploy"
	RoleMonitoring = "monitoring"
)

// roleScheme and roleHost make the URI SAN that carries a role:
// labfleet://role/monitoring. A URI SAN is used rather than an OU because
// it cannot be confused with a name and tools print it as it is
// (openssl x509 -text shows "URI:labfleet://role/monitoring").
const (
	roleScheme = "labfleet"
	roleHost   = "role"
)

// RoleURI is the subject alternative name that gives a client certificate
// role.
func RoleURI(role string) *url.URL {
	return &url.URL{Scheme: roleScheme, Host: roleHost, Path: "/" + role}
}

// CertRole returns the role written in c's URI SANs, or "" when c carries
// none (certificates made before roles existed). A certificate with two
// different roles is an error: the agent must not guess which one was meant.
func CertRole(c *x509.Certificate) (string, error) {
	role := ""
	for _, u := range c.URIs {
		if u.Scheme != roleScheme || u.Host != roleHost {
			continue
		}
		r := strings.TrimPrefix(u.Path, "/")
		if r == "" {
			return "", fmt.Errorf("certificate %q has an empty role URI %s", c.Subject.CommonName, u)
		}
		if role != "" && role != r {
			return "", fmt.Errorf("certificate %q carries two roles, %s and %s", c.Subject.CommonName, role, r)
		}
		role = r
	}
	return role, nil
}
