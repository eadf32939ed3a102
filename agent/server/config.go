package server

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/labfleet/labfleet/agent/identity"
)

// ErrConfig marks a configuration the agent refuses to start with.
var ErrConfig = errors.New("invalid configuration")

// Config is everything the gRPC server needs to start.
type Config struct {
	// Listen is the host:port the gRPC API listens on.
	Listen string
	// TLSCert and TLSKey are the server's certificate and key (PEM).
	TLSCert, TLSKey string
	// TLSClientCA, when set, makes TLS mutual: client certificates are
	// required and must chain to this CA.
	TLSClientCA string
	// ClientRoles maps client certificate CommonNames to role names
	// ("monitoring", "deploy"); an entry wins over the role written in
	// the certificate.
	ClientRoles map[string]string
	// TokenFile holds the bearer token of the deploy role;
	// MonitoringTokenFile the one of the monitoring role. With either
	// set, every caller must present one of them.
	TokenFile, MonitoringTokenFile string
	// AllowReadableSecrets starts the agent, with a warning, when its key
	// or a token file is readable by other users; without it that is
	// refused.
	AllowReadableSecrets bool
	// Insecure serves plaintext; only allowed on a loopback Listen address.
	Insecure bool
	// MetricsListen, when set, serves Prometheus /metrics on this address.
	MetricsListen string
	// ShutdownTimeout bounds how long in-flight RPCs may run after SIGTERM.
	ShutdownTimeout time.Duration
	// MaxRecvBytes bounds one request message.
	MaxRecvBytes int
}

// Check reports the first reason the configuration is unsafe or unusable,
// phrased so that the operator knows which flag to change.
func (c *Config) Check() error {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("%w: --listen %q: %v; use HOST:PORT, e.g. 0.0.0.0:7443", ErrConfig, c.Listen, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("%w: --tls-cert and --tls-key go together; give both", ErrConfig)
	}
	tls := c.TLSCert != ""
	switch {
	case c.Insecure && tls:
		return fmt.Errorf("%w: --insecure and --tls-cert contradict each other; drop one", ErrConfig)
	case c.Insecure && !IsLoopback(host):
		return fmt.Errorf("%w: --insecure refused on %s: plaintext is only allowed on a loopback address "+
			"(e.g. --listen 127.0.0.1:7443); on a network use --tls-cert/--tls-key with --tls-client-ca "+
			"(labcontroller certs init makes them)", ErrConfig, c.Listen)
	case !c.Insecure && !tls:
		return fmt.Errorf("%w: no transport security: give --tls-cert, --tls-key and --tls-client-ca "+
			"(labcontroller certs init makes them), or --insecure with a loopback --listen address", ErrConfig)
	case tls && c.TLSClientCA == "" && c.TokenFile == "" && c.MonitoringTokenFile == "":
		return fmt.Errorf("%w: TLS without --tls-client-ca or --token-file would let anyone who reaches "+
			"the port run containers as root; give one of them", ErrConfig)
	case c.Insecure && c.TLSClientCA != "":
		return fmt.Errorf("%w: --tls-client-ca needs TLS; give --tls-cert and --tls-key too", ErrConfig)
	case len(c.ClientRoles) > 0 && c.TLSClientCA == "":
		return fmt.Errorf("%w: --client-role gives client certificates roles; it needs --tls-client-ca", ErrConfig)
	case c.TokenFile != "" && c.TokenFile == c.MonitoringTokenFile:
		return fmt.Errorf("%w: --token-file and --monitoring-token-file name the same file; "+
			"a monitoring caller would get the deploy role: give each role its own token", ErrConfig)
	}
	if _, err := c.clientRoles(); err != nil {
		return err
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("%w: --metrics-listen %q: %v; use HOST:PORT, e.g. 127.0.0.1:9443", ErrConfig, c.MetricsListen, err)
		}
	}
	return nil
}

// clientRoles parses ClientRoles.
func (c *Config) clientRoles() (map[string]identity.Role, error) {
	m := make(map[string]identity.Role, len(c.ClientRoles))
	for name, role := range c.ClientRoles {
		if name == "" {
			return nil, fmt.Errorf("%w: --client-role =%s: give the certificate's common name, e.g. nagios=monitoring", ErrConfig, role)
		}
		r, err := identity.ParseRole(role)
		if err != nil {
			return nil, fmt.Errorf("%w: --client-role %s=%s: %v", ErrConfig, name, role, err)
		}
		m[name] = r
	}
	return m, nil
}

// IsLoopback reports whether host names only this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
