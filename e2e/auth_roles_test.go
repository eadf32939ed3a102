package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
	"github.com/labfleet/labfleet/internal/tlsfiles"
)

const grpcurlPermissionDenied = 64 + 7

// certFlags are grpcurl's flags for the client certificate name in dir.
func certFlags(dir, name string) []string {
	return []string{"-cacert", filepath.Join(dir, "ca.crt"), "-cert", filepath.Join(dir, name+".crt"), "-key", filepath.Join(dir, name+".key")}
}

// waitLog waits until one line of the agent's log holds every part (a
// part starting with "~" is a regular expression) and returns it.
func waitLog(t *testing.T, a *labtest.Agent, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(a.Log(), "\n") {
			ok := true
			for _, p := range parts {
				if re, isRE := strings.CutPrefix(p, "~"); isRE {
					ok = ok && regexp.MustCompile(re).MatchString(line)
				} else {
					ok = ok && strings.Contains(line, p)
				}
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's log has no line with all of %q:\n%s", parts, a.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The agent's changing RPCs, each with a request the deploy role gets past
// authorization with; the monitoring role must never reach them.
var changingRPCs = map[string]string{
	"Deploy":               `{"app":"todo","image":"todo:v1","spec":{"ports":[{"containerPort":70000}]}}`,
	"Rollback":             `{"app":"Bad_Name"}`,
	"ConfigureReplication": `{}`,
	"VerifyReplication":    `{}`,
	"DumpDatabases":        `{}`,
	"LoadDump":             `{}`,
}

func TestAuth_MonitoringCertificateReadsAndIsRefusedEveryChange(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS})
	nagios, controller := certFlags(a.Certs, "nagios"), certFlags(a.Certs, "labcontroller")

	r := grpcurl(t, nil, append(nagios, a.Addr, svc+"/GetInfo")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"caller": "cert:nagios"`) {
		t.Fatalf("GetInfo with the monitoring certificate: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = grpcurl(t, nil, append(nagios, "-d", `{"mounts":["/"]}`, a.Addr, svc+"/GetNodeStats")...)
	if r.Code != 0 {
		t.Fatalf("GetNodeStats with the monitoring certificate: code %d\n%s", r.Code, r.Stderr)
	}
	// Past authorization: the agent has no MariaDB, and says so.
	r = grpcurl(t, nil, append(nagios, "-d", `{}`, a.Addr, svc+"/GetReplicationStatus")...)
	if r.Code != grpcurlFailedPrecondition {
		t.Fatalf("GetReplicationStatus with the monitoring certificate: want FailedPrecondition, got code %d\n%s", r.Code, r.Stderr)
	}
	for rpc, req := range changingRPCs {
		r = grpcurl(t, nil, withProto(append(nagios, "-d", req, a.Addr, svc+"/"+rpc)...)...)
		if want := rpc + " needs the deploy role; this caller (nagios) has monitoring"; r.Code != grpcurlPermissionDenied || !strings.Contains(r.Stderr, want) {
			t.Errorf("%s with the monitoring certificate: want PermissionDenied saying %q, got code %d\n%s", rpc, want, r.Code, r.Stderr)
		}
		r = grpcurl(t, nil, withProto(append(controller, "-d", req, a.Addr, svc+"/"+rpc)...)...)
		if r.Code == grpcurlPermissionDenied || r.Code == grpcurlUnauthenticated {
			t.Errorf("%s with labcontroller's certificate was refused: code %d\n%s", rpc, r.Code, r.Stderr)
		}
	}
	// Reflection needs an identity, any role; health needs none.
	if r = grpcurl(t, nil, append(nagios, a.Addr, "list")...); r.Code != 0 || !strings.Contains(r.Stdout, svc) {
		t.Errorf("reflection with the monitoring certificate: code %d\n%s", r.Code, r.Stderr)
	}
	if r = grpcurl(t, nil, "-cacert", filepath.Join(a.Certs, "ca.crt"), a.Addr, "list"); r.Code == 0 {
		t.Errorf("reflection without a certificate answered:\n%s", r.Stdout)
	}
	if r = healthCheck(t, "-cacert", filepath.Join(a.Certs, "ca.crt"), a.Addr); r.Code != 0 {
		t.Errorf("health without a certificate: code %d\n%s", r.Code, r.Stderr)
	}
}

func TestAuth_EveryCallIsLoggedWithCallerAndRoleAndFailedHandshakesWithThePeer(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS})
	grpcurl(t, nil, withProto(append(certFlags(a.Certs, "nagios"), "-d", changingRPCs["Deploy"], a.Addr, svc+"/Deploy")...)...)
	grpcurl(t, nil, withProto(append(certFlags(a.Certs, "labcontroller"), a.Addr, svc+"/GetInfo")...)...)
	grpcurl(t, nil, withProto("-cacert", filepath.Join(a.Certs, "ca.crt"), a.Addr, svc+"/GetInfo")...)
	waitLog(t, a, `msg="finished call"`, "grpc.method=Deploy ", "caller=cert:nagios ", "role=monitoring ", "grpc.code=PermissionDenied ",
		"Deploy needs the deploy role; this caller (nagios) has monitoring", `~peer\.address=127\.[0-9.]+:[0-9]+ `)
	waitLog(t, a, `msg="finished call"`, "grpc.method=GetInfo ", "caller=cert:labcontroller ", "role=deploy ", "grpc.code=OK ")
	waitLog(t, a, `msg="finished call"`, "grpc.method=GetInfo ", "caller=none ", "role=none ", "grpc.code=Unauthenticated ", `~peer\.address=127\.[0-9.]+:[0-9]+ `)

	// A client certificate from another CA, and plaintext to a TLS port:
	// both fail the handshake, and the agent says who tried.
	other := labtest.Certs(t, "127.0.0.1", "other")
	grpcurl(t, nil, withProto("-cacert", filepath.Join(a.Certs, "ca.crt"), "-cert", filepath.Join(other, "labcontroller.crt"),
		"-key", filepath.Join(other, "labcontroller.key"), a.Addr, svc+"/GetInfo")...)
	waitLog(t, a, `level=WARN msg="TLS handshake failed"`, `~peer\.address=127\.[0-9.]+:[0-9]+ `, "certificate signed by unknown authority")
	grpcurl(t, nil, withProto("-plaintext", a.Addr, svc+"/GetInfo")...)
	waitLog(t, a, `level=WARN msg="TLS handshake failed"`, `~peer\.address=127\.[0-9.]+:[0-9]+ `, "first record does not look like a TLS handshake")
}

func TestAuth_MonitoringToken(t *testing.T) {
	monitoring := filepath.Join(t.TempDir(), "monitoring.token")
	if err := os.WriteFile(monitoring, []byte("monitoring-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Token, Args: []string{"--monitoring-token-file", monitoring}})
	ca := filepath.Join(a.Certs, "ca.crt")
	deployTok, _ := os.ReadFile(a.Token)
	as := func(token string, args ...string) labtest.Result {
		return grpcurl(t, []string{"LABFLEET_TOKEN=" + token}, withProto(append([]string{"-cacert", ca, "-expand-headers",
			"-H", "authorization: Bearer ${LABFLEET_TOKEN}"}, args...)...)...)
	}
	r := as("monitoring-token-0123456789abcdef", a.Addr, svc+"/GetInfo")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"caller": "monitoring-token"`) {
		t.Fatalf("GetInfo with the monitoring token: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = as("monitoring-token-0123456789abcdef", "-d", changingRPCs["Deploy"], a.Addr, svc+"/Deploy")
	if r.Code != grpcurlPermissionDenied || !strings.Contains(r.Stderr, "Deploy needs the deploy role; this caller (monitoring-token) has monitoring") {
		t.Fatalf("Deploy with the monitoring token: code %d\n%s", r.Code, r.Stderr)
	}
	r = as(strings.TrimSpace(string(deployTok)), "-d", changingRPCs["Deploy"], a.Addr, svc+"/Deploy")
	if r.Code != grpcurlInvalidArgument {
		t.Fatalf("Deploy with the deploy token: want InvalidArgument (past authorization), got code %d\n%s", r.Code, r.Stderr)
	}
	if strings.Contains(a.Log(), "monitoring-token-0123456789abcdef") {
		t.Fatalf("the monitoring token appears in the agent log:\n%s", a.Log())
	}
}

// oldClient issues a client certificate without a role from dir's CA, as
// labcontroller certs init did before roles existed.
func oldClient(t *testing.T, dir, cn string) {
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
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"labfleet"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCerts[0], key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, cn+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, cn+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuth_CertificatesFromBeforeRoles(t *testing.T) {
	ip := labtest.LoopbackIP()
	dir := labtest.Certs(t, ip, "node1")
	oldClient(t, dir, "labcontroller") // replaces certs init's
	oldClient(t, dir, "ops")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS, Certs: dir, IP: ip})
	r := grpcurl(t, nil, withProto(append(certFlags(dir, "labcontroller"), "-d", changingRPCs["Deploy"], a.Addr, svc+"/Deploy")...)...)
	if r.Code != grpcurlInvalidArgument {
		t.Errorf("an old labcontroller certificate: want the deploy role (InvalidArgument past authorization), got code %d\n%s", r.Code, r.Stderr)
	}
	r = grpcurl(t, nil, withProto(append(certFlags(dir, "ops"), a.Addr, svc+"/GetInfo")...)...)
	if r.Code != grpcurlPermissionDenied || !strings.Contains(r.Stderr, `"ops" carries no role`) || !strings.Contains(r.Stderr, "--client-role ops=monitoring") {
		t.Errorf("an old certificate of another name: want PermissionDenied saying what to do, got code %d\n%s", r.Code, r.Stderr)
	}
	a.Stop()

	// The node's own mapping gives it a role.
	a = labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS, Certs: dir, IP: ip, Args: []string{"--client-role", "ops=monitoring"}})
	if r = grpcurl(t, nil, withProto(append(certFlags(dir, "ops"), a.Addr, svc+"/GetInfo")...)...); r.Code != 0 {
		t.Errorf("ops mapped to monitoring, GetInfo: code %d\n%s", r.Code, r.Stderr)
	}
	r = grpcurl(t, nil, withProto(append(certFlags(dir, "ops"), "-d", changingRPCs["Deploy"], a.Addr, svc+"/Deploy")...)...)
	if r.Code != grpcurlPermissionDenied || !strings.Contains(r.Stderr, "this caller (ops) has monitoring") {
		t.Errorf("ops mapped to monitoring, Deploy: code %d\n%s", r.Code, r.Stderr)
	}
}

func TestAuth_LabcontrollerWithTheMonitoringCertificate(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS})
	inv := labInventory(t, "", a)
	flags := []string{"--ca", filepath.Join(a.Certs, "ca.crt"), "--cert", filepath.Join(a.Certs, "nagios.crt"), "--key", filepath.Join(a.Certs, "nagios.key")}
	if r := controller(t, append([]string{"-i", inv, "info"}, flags...)...); r.Code != 0 {
		t.Fatalf("info with the monitoring certificate: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r := controller(t, append([]string{"-i", inv, "deploy", "--app", "todo", "--image", "todo:v1", "--state-dir", t.TempDir()}, flags...)...)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "Deploy needs the deploy role; this caller (nagios) has monitoring") {
		t.Fatalf("deploy with the monitoring certificate: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
