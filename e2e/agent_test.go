// Package e2e runs labfleet's binaries as real processes against real
// programs (grpcurl, and in later tests the Docker Engine, MariaDB, HAProxy
// and Nagios).
package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

const svc = "labfleet.agent.v1.AgentService"

// grpcurl exit codes are 64 + the gRPC status code.
const (
	grpcurlInternal           = 64 + 13
	grpcurlUnauthenticated    = 64 + 16
	grpcurlInvalidArgument    = 64 + 3
	grpcurlFailedPrecondition = 64 + 9
)

func grpcurl(t *testing.T, env []string, args ...string) labtest.Result {
	t.Helper()
	return labtest.Run(t, env, labtest.Tool(t, "grpcurl"), append([]string{"-max-time", "10"}, args...)...)
}

// withProto makes grpcurl read the API from the .proto source instead of
// reflection, so that a refused call fails on the call itself (exit 64+code)
// rather than on the reflection lookup before it.
func withProto(args ...string) []string {
	return append([]string{"-import-path", filepath.Join(labtest.RepoRoot(), "proto"), "-proto", "labfleet/agent/v1/agent.proto"}, args...)
}

// healthCheck calls grpc.health.v1.Health/Check without reflection.
func healthCheck(t *testing.T, args ...string) labtest.Result {
	t.Helper()
	return grpcurl(t, nil, append([]string{"-import-path", "testdata", "-proto", "grpc/health/v1/health.proto"}, append(args, "grpc.health.v1.Health/Check")...)...)
}

func mtlsFlags(a *labtest.Agent) []string {
	return []string{"-cacert", filepath.Join(a.Certs, "ca.crt"),
		"-cert", filepath.Join(a.Certs, "labcontroller.crt"), "-key", filepath.Join(a.Certs, "labcontroller.key")}
}

func TestAgent_InsecureLoopback_ReflectionHealthInfo(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Insecure})

	r := grpcurl(t, nil, "-plaintext", a.Addr, "list")
	if r.Code != 0 || !strings.Contains(r.Stdout, svc) || !strings.Contains(r.Stdout, "grpc.health.v1.Health") {
		t.Fatalf("grpcurl list: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = grpcurl(t, nil, "-plaintext", a.Addr, "grpc.health.v1.Health/Check")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"SERVING"`) {
		t.Fatalf("health: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = grpcurl(t, nil, "-plaintext", a.Addr, svc+"/GetInfo")
	for _, want := range []string{`"nodeName": "node1"`, `"caller": "loopback"`, `"node-stats"`, `"agentVersion"`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("GetInfo lacks %s:\n%s%s", want, r.Stdout, r.Stderr)
		}
	}
	r = grpcurl(t, nil, "-plaintext", "-d", `{"mounts":["/"]}`, a.Addr, svc+"/GetNodeStats")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"mount": "/"`) || !strings.Contains(r.Stdout, `"cpuCount"`) {
		t.Fatalf("GetNodeStats: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = grpcurl(t, nil, "-plaintext", "-d", `{"mounts":["/no/such/mount"]}`, a.Addr, svc+"/GetNodeStats")
	if r.Code != 64+5 || !strings.Contains(r.Stderr, "/no/such/mount") {
		t.Fatalf("GetNodeStats of a missing mount: want NotFound naming it, got code %d\n%s", r.Code, r.Stderr)
	}
}

func TestAgent_MTLS_RequiresClientCertificateExceptForHealth(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.MTLS})
	ca := filepath.Join(a.Certs, "ca.crt")

	r := grpcurl(t, nil, append(mtlsFlags(a), a.Addr, svc+"/GetInfo")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"caller": "cert:labcontroller"`) {
		t.Fatalf("GetInfo with client cert: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = grpcurl(t, nil, append(mtlsFlags(a), a.Addr, "list")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, svc) {
		t.Fatalf("reflection with client cert: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = grpcurl(t, nil, withProto("-cacert", ca, a.Addr, svc+"/GetInfo")...)
	if r.Code != grpcurlUnauthenticated || !strings.Contains(r.Stderr, "client certificate") {
		t.Fatalf("GetInfo without client cert: want Unauthenticated, got code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = healthCheck(t, "-cacert", ca, a.Addr)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"SERVING"`) {
		t.Fatalf("health without client cert must stay allowed: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// A client certificate from another CA fails the handshake.
	other := labtest.Certs(t, "127.0.0.1", "other")
	r = grpcurl(t, nil, "-cacert", ca, "-cert", filepath.Join(other, "labcontroller.crt"), "-key", filepath.Join(other, "labcontroller.key"), a.Addr, svc+"/GetInfo")
	if r.Code == 0 {
		t.Fatalf("a client certificate from a foreign CA was accepted:\n%s", r.Stdout)
	}
	// Plaintext to a TLS agent does not get through either.
	r = grpcurl(t, nil, "-plaintext", a.Addr, svc+"/GetInfo")
	if r.Code == 0 {
		t.Fatalf("plaintext call to an mTLS agent succeeded:\n%s", r.Stdout)
	}
}

func TestAgent_TokenOverTLS(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Token})
	ca := filepath.Join(a.Certs, "ca.crt")
	tok, err := os.ReadFile(a.Token)
	if err != nil {
		t.Fatal(err)
	}
	// -expand-headers reads the token from the environment, keeping it out of argv.
	good := []string{"LABFLEET_TOKEN=" + strings.TrimSpace(string(tok))}
	r := grpcurl(t, good, "-cacert", ca, "-expand-headers", "-H", "authorization: Bearer ${LABFLEET_TOKEN}", a.Addr, svc+"/GetInfo")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"caller": "token"`) {
		t.Fatalf("GetInfo with token: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	bad := []string{"LABFLEET_TOKEN=wrong-token-0123456789"}
	r = grpcurl(t, bad, withProto("-cacert", ca, "-expand-headers", "-H", "authorization: Bearer ${LABFLEET_TOKEN}", a.Addr, svc+"/GetInfo")...)
	if r.Code != grpcurlUnauthenticated {
		t.Fatalf("wrong token: want Unauthenticated, got code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = grpcurl(t, nil, withProto("-cacert", ca, a.Addr, svc+"/GetInfo")...)
	if r.Code != grpcurlUnauthenticated || !strings.Contains(r.Stderr, "missing bearer token") {
		t.Fatalf("no token: want Unauthenticated, got code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = healthCheck(t, "-cacert", ca, a.Addr)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"SERVING"`) {
		t.Fatalf("health without token: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if strings.Contains(a.Log(), strings.TrimSpace(string(tok))) || strings.Contains(a.Log(), "wrong-token") {
		t.Fatalf("a token appears in the agent log:\n%s", a.Log())
	}
}

func TestAgent_RefusesUnsafeStarts(t *testing.T) {
	agent := labtest.Binary(t, "labagent")
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"insecure off loopback", []string{"--listen", "0.0.0.0:0", "--insecure"}, "only allowed on a loopback address"},
		{"insecure on a LAN address", []string{"--listen", "192.168.6.3:7443", "--insecure"}, "--insecure refused on 192.168.6.3:7443"},
		{"no security at all", []string{"--listen", "127.0.0.1:0"}, "no transport security"},
		{"TLS without client auth", []string{"--listen", "127.0.0.1:0", "--tls-cert", "x.crt", "--tls-key", "x.key"}, "--tls-client-ca or --token-file"},
		{"bad flag", []string{"--no-such-flag"}, "unknown flag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := labtest.Run(t, nil, agent, append(c.args, "--state-dir", dir)...)
			if r.Code != 2 || !strings.Contains(r.Stderr, c.want) {
				t.Fatalf("want exit 2 mentioning %q, got %d:\n%s", c.want, r.Code, r.Stderr)
			}
		})
	}
}

func TestAgent_MismatchedCertificateAndKeyNamesTheFiles(t *testing.T) {
	dir := labtest.Certs(t, "127.0.0.1", "node1", "node2")
	cert, key := filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node2.key")
	r := labtest.Run(t, nil, labtest.Binary(t, "labagent"), "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(),
		"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", filepath.Join(dir, "ca.crt"))
	if r.Code == 0 || !strings.Contains(r.Stderr, cert) || !strings.Contains(r.Stderr, key) {
		t.Fatalf("want an error naming %s and %s, got %d:\n%s", cert, key, r.Code, r.Stderr)
	}
	r = labtest.Run(t, nil, labtest.Binary(t, "labagent"), "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(),
		"--tls-cert", cert, "--tls-key", filepath.Join(dir, "node1.key"), "--tls-client-ca", "/nonexistent/ca.crt")
	if r.Code == 0 || !strings.Contains(r.Stderr, "/nonexistent/ca.crt") {
		t.Fatalf("want an error naming the missing CA file, got %d:\n%s", r.Code, r.Stderr)
	}
}

func TestAgent_PanicBecomesInternalAndAgentKeepsServing(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Insecure})
	r := grpcurl(t, nil, "-plaintext", "-H", "x-labfleet-fault: panic", a.Addr, svc+"/GetInfo")
	if r.Code != grpcurlInternal {
		t.Fatalf("injected panic: want Internal, got code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = grpcurl(t, nil, "-plaintext", a.Addr, svc+"/GetInfo")
	if r.Code != 0 || a.Exited() {
		t.Fatalf("agent does not serve after a panic: code %d\n%s", r.Code, r.Stderr)
	}
	if !strings.Contains(a.Log(), "panic in RPC handler") || !strings.Contains(a.Log(), "goroutine") {
		t.Fatalf("panic not logged with its stack:\n%s", a.Log())
	}
}

func TestAgent_ValidationAndUnconfiguredMariaDB(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Insecure})
	r := grpcurl(t, nil, "-plaintext", "-d", `{"app":"Bad_Name"}`, a.Addr, svc+"/GetApp")
	if r.Code != grpcurlInvalidArgument || !strings.Contains(r.Stderr, "invalid app") {
		t.Fatalf("bad app name: want InvalidArgument naming app, got %d\n%s", r.Code, r.Stderr)
	}
	r = grpcurl(t, nil, "-plaintext", "-d", `{"app":"todo","image":"todo:v1","spec":{"ports":[{"containerPort":70000}]}}`, a.Addr, svc+"/Deploy")
	if r.Code != grpcurlInvalidArgument || !strings.Contains(r.Stderr, "spec.ports[0].container_port") {
		t.Fatalf("bad port: want InvalidArgument naming the field, got %d\n%s", r.Code, r.Stderr)
	}
	r = grpcurl(t, nil, "-plaintext", "-d", `{}`, a.Addr, svc+"/GetReplicationStatus")
	if r.Code != grpcurlFailedPrecondition || !strings.Contains(r.Stderr, "--mariadb-addr") {
		t.Fatalf("replication status without MariaDB: want FailedPrecondition saying how to configure it, got %d\n%s", r.Code, r.Stderr)
	}
}

func TestAgent_GracefulShutdownLetsInFlightRPCsFinish(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Insecure})
	done := make(chan labtest.Result, 1)
	go func() {
		done <- grpcurl(t, nil, withProto("-plaintext", "-H", "x-labfleet-fault: sleep=2s", a.Addr, svc+"/GetInfo")...)
	}()
	time.Sleep(700 * time.Millisecond) // let the slow call reach the handler
	a.Stop()
	r := <-done
	if r.Code != 0 || !strings.Contains(r.Stdout, `"nodeName"`) {
		t.Fatalf("in-flight RPC cut by SIGTERM: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Wait(ctx); err != nil {
		t.Fatalf("agent did not exit cleanly after SIGTERM: %v\n%s", err, a.Log())
	}
}

func TestAgent_PrometheusMetrics(t *testing.T) {
	ip := labtest.LoopbackIP()
	maddr := labtest.FreeAddr(t, ip)
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Insecure, Args: []string{"--metrics-listen", maddr}})
	if r := grpcurl(t, nil, "-plaintext", a.Addr, svc+"/GetInfo"); r.Code != 0 {
		t.Fatalf("GetInfo: %s", r.Stderr)
	}
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `grpc_server_handled_total{grpc_code="OK",grpc_method="GetInfo"`) {
		t.Fatalf("metrics lack the GetInfo counter:\n%.2000s", body)
	}
}
