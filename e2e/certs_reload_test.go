package e2e

import (
	"context"
	"crypto/tls"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/labtest"
	"github.com/labfleet/labfleet/internal/pki"
	"github.com/labfleet/labfleet/internal/tlsfiles"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// copyCerts copies every file of src into dst (replacing), keeping modes.
func copyCerts(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := e.Info()
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial opens a new TLS connection to the agent, trusting dir's CA,
// and returns the serial number of the certificate it serves.
func servedSerial(t *testing.T, addr, dir string) (*big.Int, error) {
	t.Helper()
	pool, err := tlsfiles.LoadCAPool(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := strings.Cut(addr, ":")
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: host, NextProtos: []string{"h2"}})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func info(c *agentclient.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
	return err
}

func dialAs(t *testing.T, addr, dir, name string) *agentclient.Conn {
	t.Helper()
	c, err := agentclient.Dial(agentclient.Options{Addr: addr, CAFile: filepath.Join(dir, "ca.crt"),
		CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCerts_RenewAndReloadWithoutRestart is certificates over time: the
// controller renews the set from the same CA, the agent loads it on SIGHUP
// without a restart, later moves to a new CA the same way, and a bad file
// leaves it serving with what it had.
func TestCerts_RenewAndReloadWithoutRestart(t *testing.T) {
	ip := labtest.LoopbackIP()
	live := labtest.Certs(t, ip, "node1") // the directory the agent reads, and where certs renew works
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS, Certs: live, IP: ip})
	pid := a.Cmd.Process.Pid
	hup := func(wantLog string, times int) {
		t.Helper()
		if err := a.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(a.Log(), wantLog) < times {
			if time.Now().After(deadline) || a.Exited() {
				t.Fatalf("no %q in the agent's log after SIGHUP %d (exited: %v):\n%s", wantLog, times, a.Exited(), a.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	before, err := servedSerial(t, a.Addr, live)
	if err != nil {
		t.Fatal(err)
	}
	first := t.TempDir()
	copyCerts(t, live, first) // the first set, as a client that never updates holds it
	established := dialAs(t, a.Addr, first, "labcontroller")
	if err := info(established); err != nil {
		t.Fatal(err)
	}

	// Renew from the same CA: keys stay, certificates change.
	r := controller(t, "certs", "renew", "--dir", live, "--days", "90")
	if r.Code != 0 || !strings.Contains(r.Stdout, "renewed "+filepath.Join(live, "node1.crt")) {
		t.Fatalf("certs renew: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	hup("reloaded the TLS certificate, key and client CA", 1)
	after, err := servedSerial(t, a.Addr, live)
	if err != nil || after.Cmp(before) == 0 {
		t.Fatalf("after renew and SIGHUP the agent serves serial %v (%v), before %v: want the renewed certificate", after, err, before)
	}
	leaf, _ := tlsfiles.LoadCertificates(filepath.Join(live, "node1.crt"))
	if after.Cmp(leaf[0].SerialNumber) != 0 {
		t.Errorf("the agent serves serial %v, the renewed node1.crt has %v", after, leaf[0].SerialNumber)
	}
	if err := info(established); err != nil {
		t.Errorf("the connection made before the reload broke: %v", err)
	}
	if err := info(dialAs(t, a.Addr, first, "labcontroller")); err != nil {
		t.Errorf("the old client certificate (same CA) on a new connection: %v", err)
	}

	// A new CA, the same way.
	second := labtest.Certs(t, ip, "node1")
	copyCerts(t, second, live)
	hup("reloaded the TLS certificate, key and client CA", 2)
	if err := info(dialAs(t, a.Addr, second, "labcontroller")); err != nil {
		t.Errorf("the new CA's client on a new connection: %v", err)
	}
	if err := info(dialAs(t, a.Addr, first, "labcontroller")); err == nil {
		t.Error("the old CA's client still gets a new connection after the move to a new CA")
	}
	if err := info(established); err != nil {
		t.Errorf("the connection made before both reloads broke: %v", err)
	}

	// A bad file: the agent logs why and keeps serving with the files it has.
	if err := os.WriteFile(filepath.Join(live, "node1.crt"), []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup("reload failed; still serving with the previous files", 1)
	if !strings.Contains(a.Log(), filepath.Join(live, "node1.crt")) || !strings.Contains(a.Log(), "no PEM certificate") {
		t.Errorf("the failed reload does not say which file and why:\n%s", a.Log())
	}
	if err := info(dialAs(t, a.Addr, second, "labcontroller")); err != nil {
		t.Errorf("a new connection after a failed reload: %v", err)
	}
	if a.Exited() || a.Cmd.Process.Pid != pid {
		t.Fatal("the agent restarted or exited")
	}
}

func TestCerts_RenewRefusesWithoutUsableCA(t *testing.T) {
	empty := t.TempDir()
	r := controller(t, "certs", "renew", "--dir", empty)
	if r.Code != 2 || !strings.Contains(r.Stderr, "no CA to renew from: "+filepath.Join(empty, "ca.crt")+" does not exist") {
		t.Fatalf("renew without a CA: exit %d\n%s", r.Code, r.Stderr)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("a refused renew wrote %d files", len(entries))
	}
	// A CA that expired (certs init run eleven years ago).
	old := t.TempDir()
	if _, err := pki.Init(pki.Options{Dir: old, Hosts: []pki.Host{{Name: "node1", Addrs: []string{"127.0.0.1"}}},
		Now: func() time.Time { return time.Now().AddDate(-11, 0, 0) }, Validity: time.Hour}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(old, "node1.crt"))
	r = controller(t, "certs", "renew", "--dir", old)
	if r.Code != 1 || !strings.Contains(r.Stderr, "the CA has expired: "+filepath.Join(old, "ca.crt")+" expired on ") ||
		!strings.Contains(r.Stderr, "certs init --force") {
		t.Fatalf("renew with an expired CA: exit %d\n%s", r.Code, r.Stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(old, "node1.crt")); string(after) != string(before) {
		t.Error("a refused renew rewrote node1.crt")
	}
}
