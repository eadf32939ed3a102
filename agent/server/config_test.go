package server

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"insecure loopback v4", Config{Listen: "127.0.0.11:7443", Insecure: true}, ""},
		{"insecure loopback v6", Config{Listen: "[::1]:7443", Insecure: true}, ""},
		{"insecure localhost", Config{Listen: "localhost:7443", Insecure: true}, ""},
		{"insecure all interfaces", Config{Listen: "0.0.0.0:7443", Insecure: true}, "only allowed on a loopback"},
		{"insecure empty host", Config{Listen: ":7443", Insecure: true}, "only allowed on a loopback"},
		{"insecure LAN", Config{Listen: "192.168.6.3:7443", Insecure: true}, "only allowed on a loopback"},
		{"nothing", Config{Listen: "0.0.0.0:7443"}, "no transport security"},
		{"mtls", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSKey: "k", TLSClientCA: "ca"}, ""},
		{"tls token", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSKey: "k", TokenFile: "t"}, ""},
		{"tls alone", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSKey: "k"}, "--tls-client-ca or --token-file"},
		{"tls with a monitoring token only", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSKey: "k", MonitoringTokenFile: "m"}, ""},
		{"one file for both tokens", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSKey: "k", TokenFile: "t", MonitoringTokenFile: "t"}, "name the same file"},
		{"client roles", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSKey: "k", TLSClientCA: "ca", ClientRoles: map[string]string{"nagios": "monitoring", "ops": "deploy"}}, ""},
		{"client roles without mTLS", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSKey: "k", TokenFile: "t", ClientRoles: map[string]string{"nagios": "monitoring"}}, "needs --tls-client-ca"},
		{"unknown client role", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSKey: "k", TLSClientCA: "ca", ClientRoles: map[string]string{"nagios": "admin"}},
			`--client-role nagios=admin: unknown role "admin": use monitoring or deploy`},
		{"client role without a name", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSKey: "k", TLSClientCA: "ca", ClientRoles: map[string]string{"": "deploy"}}, "common name"},
		{"cert without key", Config{Listen: "0.0.0.0:7443", TLSCert: "c", TLSClientCA: "ca"}, "go together"},
		{"insecure and tls", Config{Listen: "127.0.0.1:7443", Insecure: true, TLSCert: "c", TLSKey: "k"}, "contradict"},
		{"bad listen", Config{Listen: "7443", Insecure: true}, "HOST:PORT"},
		{"bad metrics", Config{Listen: "127.0.0.1:7443", Insecure: true, MetricsListen: "9100"}, "--metrics-listen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Check()
			if c.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrConfig) {
				t.Fatalf("want ErrConfig mentioning %q, got %v", c.want, err)
			}
		})
	}
}
