package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/labtest"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func TestAgent_EnvironmentAndConfigFile(t *testing.T) {
	cfg := writeFile(t, "agent.yaml", "node-name: from-file\nlog-format: json\n")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "ignored", Mode: labtest.Insecure,
		Env: []string{"LABAGENT_CONFIG=" + cfg}})
	// StartAgent passes --node-name, which wins over the file.
	r := grpcurl(t, nil, "-plaintext", a.Addr, svc+"/GetInfo")
	if !strings.Contains(r.Stdout, `"nodeName": "ignored"`) || !strings.Contains(a.Log(), `"msg":"agent listening"`) {
		t.Fatalf("flag must win over the config file, and log-format must come from it:\n%s\n%s", r.Stdout, a.Log())
	}

	bad := writeFile(t, "bad.yaml", "node-name: x\nlisten-adress: 127.0.0.1:1\n")
	res := labtest.Run(t, nil, labtest.Binary(t, "labagent"), "--config", bad, "--insecure", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir())
	if res.Code != 2 || !strings.Contains(res.Stderr, `unknown key "listen-adress"`) {
		t.Fatalf("unknown config key: want exit 2 naming it, got %d: %s", res.Code, res.Stderr)
	}
	res = labtest.Run(t, []string{"LABAGENT_LISTEN=0.0.0.0:0", "LABAGENT_INSECURE=true"}, labtest.Binary(t, "labagent"), "--state-dir", t.TempDir())
	if res.Code != 2 || !strings.Contains(res.Stderr, "only allowed on a loopback address") {
		t.Fatalf("environment variables must be applied (and checked): got %d: %s", res.Code, res.Stderr)
	}
}

func TestAgent_MessageSizeLimit(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Insecure})
	c, err := agentclient.Dial(agentclient.Options{Addr: a.Addr, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	huge := strings.Repeat("x", 5<<20)
	stream, err := c.Agent.Deploy(context.Background(), &agentv1.DeployRequest{App: "web", Image: "x:1",
		Spec: &agentv1.ContainerSpec{Env: map[string]string{"BIG": huge}}})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a 5 MiB request: want ResourceExhausted, got %v", err)
	}
	if _, err := c.Agent.GetInfo(context.Background(), &agentv1.GetInfoRequest{}); err != nil {
		t.Fatalf("agent unusable after an oversized request: %v", err)
	}
}

func TestController_InfoWithTokenOverTLS(t *testing.T) {
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1", Mode: labtest.Token})
	inv := labInventory(t, "", a)
	r := controller(t, "-i", inv, "info", "--ca", filepath.Join(a.Certs, "ca.crt"), "--token-file", a.Token)
	if r.Code != 0 || !strings.Contains(r.Stdout, "ok") {
		t.Fatalf("info with a token: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	wrong := writeFile(t, "wrong", "not-the-token-0123456789")
	r = controller(t, "-i", inv, "info", "--ca", filepath.Join(a.Certs, "ca.crt"), "--token-file", wrong)
	if r.Code != 1 || !strings.Contains(r.Stderr, "invalid bearer token") {
		t.Fatalf("info with a wrong token: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	tok, _ := os.ReadFile(a.Token)
	if strings.Contains(r.Stdout+r.Stderr, strings.TrimSpace(string(tok))) || strings.Contains(r.Stdout+r.Stderr, "not-the-token") {
		t.Fatal("a token was printed")
	}
}

func TestController_InfoDoesNotHangOnASilentListener(t *testing.T) {
	// A listener that accepts connections and never says anything.
	l, err := net.Listen("tcp", labtest.LoopbackIP()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	h, p := hostPort(l.Addr().String())
	inv := writeFile(t, "inv.ini", "[nodes]\nsilent ansible_host="+h+" labagent_port="+p+"\n")
	ca := filepath.Join(labtest.Certs(t, h, "silent"), "ca.crt")
	r := controller(t, "-i", inv, "--timeout", "2s", "info", "--ca", ca)
	if r.Code != 1 || !strings.Contains(r.Stderr, "silent") || !strings.Contains(r.Stderr, l.Addr().String()) {
		t.Fatalf("silent agent: want exit 1 naming it, got %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
