package agentclient_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/agentclient"
)

// optionError checks that err is an option error in every way callers test
// for one, and returns its message.
func optionError(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("Dial succeeded, want an option error")
	}
	if !errors.Is(err, agentclient.ErrOptions) {
		t.Errorf("errors.Is(%v, ErrOptions) = false", err)
	}
	var oe *agentclient.OptionError
	if !errors.As(err, &oe) {
		t.Errorf("%T %v is not an *OptionError", err, err)
	}
	if strings.Contains(err.Error(), agentclient.ErrOptions.Error()) {
		t.Errorf("message %q carries the sentinel's text as a prefix; front ends print it as it is", err)
	}
	return err.Error()
}

func wantAll(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("message %q does not contain %q", msg, p)
		}
	}
}

func TestDial_PlaintextToNonLoopbackRefused(t *testing.T) {
	for _, addr := range []string{"192.0.2.10:7443", "agent.example:7443", "[2001:db8::1]:7443", "0.0.0.0:7443"} {
		t.Run(addr, func(t *testing.T) {
			c, err := agentclient.Dial(agentclient.Options{Addr: addr, Insecure: true})
			if c != nil {
				c.Close()
				t.Error("Dial returned a connection")
			}
			msg := optionError(t, err)
			wantAll(t, msg, "refusing plaintext to "+addr, "--insecure is only for loopback agents", "give --ca (and --cert/--key or --token-file)")
		})
	}
}

func TestDial_PlaintextRefusalSpeaksTheCallersSpelling(t *testing.T) {
	tests := []struct {
		name string
		sp   agentclient.Spelling
		want []string
	}{
		{"nagios plugin", agentclient.Spelling{CA: "--cacert"}, []string{"give --cacert (and --cert/--key or --token-file)", "--insecure is only"}},
		{"ansible task", agentclient.Spelling{CA: "ca", Cert: "client_cert", Key: "client_key", Token: "token_file", Insecure: "insecure"},
			[]string{"insecure is only for loopback agents; give ca (and client_cert/client_key or token_file)"}},
		{"zero spelling is labcontroller's", agentclient.Spelling{}, []string{"give --ca (and --cert/--key or --token-file)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := agentclient.Dial(agentclient.Options{Addr: "10.1.2.3:7443", Insecure: true, Spelling: tt.sp})
			wantAll(t, optionError(t, err), tt.want...)
		})
	}
}

func TestDial_PlaintextToLoopbackAllowed(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:7443", "127.0.0.42:7443", "[::1]:7443", "localhost:7443"} {
		c, err := agentclient.Dial(agentclient.Options{Addr: addr, Insecure: true})
		if err != nil {
			t.Errorf("Dial(%s, insecure): %v", addr, err)
			continue
		}
		c.Close()
	}
}

// A token must never cross the network in plaintext: with --insecure to a
// remote agent Dial refuses before any connection is made, token or not.
func TestDial_TokenNotSentInPlaintextToNonLoopback(t *testing.T) {
	tok := writeFile(t, "token", "0123456789abcdef0123\n")
	c, err := agentclient.Dial(agentclient.Options{Addr: "192.0.2.10:7443", Insecure: true, TokenFile: tok})
	if c != nil {
		c.Close()
		t.Fatal("Dial returned a connection that would send the token in plaintext")
	}
	wantAll(t, optionError(t, err), "refusing plaintext to 192.0.2.10:7443")
}

func TestDial_InsecureWithTLSFilesRefused(t *testing.T) {
	for _, o := range []agentclient.Options{
		{Addr: "127.0.0.1:7443", Insecure: true, CAFile: "/etc/labfleet/ca.crt"},
		{Addr: "127.0.0.1:7443", Insecure: true, CertFile: "/etc/labfleet/c.crt", KeyFile: "/etc/labfleet/c.key"},
		{Addr: "127.0.0.1:7443", Insecure: true, CertFile: "/etc/labfleet/c.crt"},
		// A key alone is as much a sign that TLS was meant.
		{Addr: "127.0.0.1:7443", Insecure: true, KeyFile: "/etc/labfleet/c.key"},
	} {
		msg := optionError(t, dialErr(o))
		wantAll(t, msg, "--insecure with TLS files for 127.0.0.1:7443: drop one")
	}
	o := agentclient.Options{Addr: "127.0.0.1:7443", Insecure: true, CAFile: "ca.pem", Spelling: agentclient.Spelling{Insecure: "insecure"}}
	if msg := optionError(t, dialErr(o)); !strings.HasPrefix(msg, "insecure with TLS files") {
		t.Errorf("message %q does not start with the Ansible spelling of the option", msg)
	}
}

func TestDial_ClientCertificateNeedsCertAndKey(t *testing.T) {
	for _, o := range []agentclient.Options{
		{Addr: "127.0.0.1:7443", CertFile: "client.crt"},
		{Addr: "127.0.0.1:7443", KeyFile: "client.key"},
	} {
		msg := optionError(t, dialErr(o))
		if msg != "a client certificate needs both --cert and --key" {
			t.Errorf("message = %q", msg)
		}
	}
	o := agentclient.Options{Addr: "127.0.0.1:7443", CertFile: "client.crt", Spelling: agentclient.Spelling{Cert: "client_cert", Key: "client_key"}}
	if msg := optionError(t, dialErr(o)); msg != "a client certificate needs both client_cert and client_key" {
		t.Errorf("message = %q", msg)
	}
}

func TestDial_TokenFileMustHoldAToken(t *testing.T) {
	missing := t.TempDir() + "/no-such-token"
	empty := writeFile(t, "empty-token", " \n\t\n")
	tests := []struct {
		name string
		o    agentclient.Options
		want []string
	}{
		{"missing", agentclient.Options{TokenFile: missing}, []string{"--token-file: cannot read the token file", "no such file"}},
		{"empty", agentclient.Options{TokenFile: empty}, []string{"--token-file: token file " + empty + " is empty"}},
		{"spelled", agentclient.Options{TokenFile: empty, Spelling: agentclient.Spelling{Token: "--token-file-path"}}, []string{"--token-file-path: token file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Addr, tt.o.Insecure = "127.0.0.1:7443", true
			wantAll(t, optionError(t, dialErr(tt.o)), tt.want...)
		})
	}
}

func TestDial_AddressWithoutPortRefused(t *testing.T) {
	msg := optionError(t, dialErr(agentclient.Options{Addr: "node1", Insecure: true}))
	wantAll(t, msg, `agent address "node1"`, "want HOST:PORT")
}

func dialErr(o agentclient.Options) error {
	c, err := agentclient.Dial(o)
	if c != nil {
		c.Close()
	}
	return err
}
