package fleet

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/inventory"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// writeInventory writes content to name in a fresh temp dir and returns its path.
func writeInventory(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadInventory(t *testing.T, name, content string) *inventory.Inventory {
	t.Helper()
	inv, err := Load(writeInventory(t, name, content))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return inv
}

func names(nodes []Node) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Name)
	}
	return strings.Join(s, ",")
}

const iniInventory = `[web]
node1 ansible_host=127.0.0.11
node2 ansible_host=::1 labagent_port=7500
node3 labagent_ca=/host/ca.crt labagent_cert=/host/c.crt labagent_key=/host/c.key labagent_token_file=/host/token labagent_server_name=agent3.lab

[web:vars]
labagent_port=7444

[db]
db1 ansible_host=10.0.0.5
db2:2222

[bad]
bad1 labagent_port=notaport
bad2 labagent_port=0
bad3 labagent_port=65536
`

func TestSelect_INIAddressesPortsAndTLSVars(t *testing.T) {
	inv := loadInventory(t, "inventory.ini", iniInventory)
	nodes, err := Select(inv, "web", "", Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		conn agentclient.Options
	}{
		// The group var labagent_port=7444 applies where the host sets none.
		{"node1", agentclient.Options{Addr: "127.0.0.11:7444"}},
		// A host var wins over the group var; IPv6 gets brackets.
		{"node2", agentclient.Options{Addr: "[::1]:7500"}},
		// No ansible_host: the inventory name is the address.
		{"node3", agentclient.Options{Addr: "node3:7444", CAFile: "/host/ca.crt", CertFile: "/host/c.crt", KeyFile: "/host/c.key",
			TokenFile: "/host/token", ServerName: "agent3.lab"}},
	}
	if len(nodes) != len(want) {
		t.Fatalf("selected %s, want node1,node2,node3", names(nodes))
	}
	for i, w := range want {
		if nodes[i].Name != w.name || nodes[i].Conn != w.conn {
			t.Errorf("node %d = %s %+v, want %s %+v", i, nodes[i].Name, nodes[i].Conn, w.name, w.conn)
		}
		if nodes[i].Addr() != w.conn.Addr {
			t.Errorf("%s: Addr() = %q, want %q", w.name, nodes[i].Addr(), w.conn.Addr)
		}
	}
	// Vars are the host's effective variables, group vars included.
	if got := nodes[0].Vars["labagent_port"]; got != 7444 {
		t.Errorf("node1 Vars[labagent_port] = %#v, want 7444 from [web:vars]", got)
	}
	if got := nodes[0].Vars["inventory_hostname"]; got != "node1" {
		t.Errorf("node1 Vars[inventory_hostname] = %#v", got)
	}
}

func TestSelect_DefaultPortIgnoresSSHPort(t *testing.T) {
	inv := loadInventory(t, "inventory.ini", iniInventory)
	nodes, err := Select(inv, "db", "", Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if names(nodes) != "db1,db2" {
		t.Fatalf("selected %s, want db1,db2", names(nodes))
	}
	if nodes[0].Addr() != "10.0.0.5:7443" {
		t.Errorf("db1 Addr = %q, want the default agent port 7443", nodes[0].Addr())
	}
	// db2:2222 is Ansible's SSH port (ansible_port), not the agent's.
	if nodes[1].Addr() != "db2:7443" || nodes[1].Vars["ansible_port"] != 2222 {
		t.Errorf("db2 Addr = %q, ansible_port = %#v; want db2:7443 and 2222", nodes[1].Addr(), nodes[1].Vars["ansible_port"])
	}
}

func TestSelect_InvalidPortNamesHostAndValue(t *testing.T) {
	inv := loadInventory(t, "inventory.ini", iniInventory)
	for _, c := range []struct{ host, value string }{{"bad1", "notaport"}, {"bad2", "0"}, {"bad3", "65536"}} {
		t.Run(c.host, func(t *testing.T) {
			nodes, err := Select(inv, "bad", c.host, Defaults{})
			if !errors.Is(err, ErrInventory) {
				t.Fatalf("Select = %v, %v; want an error wrapping ErrInventory", names(nodes), err)
			}
			for _, s := range []string{inv.Source, "host " + c.host, "labagent_port=" + c.value + " is not a port number"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestSelect_FlagsWinOverHostVars(t *testing.T) {
	inv := loadInventory(t, "inventory.ini", iniInventory)
	d := Defaults{CAFile: "/flag/ca.crt", CertFile: "/flag/c.crt", TokenFile: "/flag/token"}
	nodes, err := Select(inv, "web", "node3", d)
	if err != nil {
		t.Fatal(err)
	}
	got := nodes[0].Conn
	// Flags given win; the key flag was left empty, so the host var fills it.
	want := agentclient.Options{Addr: "node3:7444", CAFile: "/flag/ca.crt", CertFile: "/flag/c.crt", KeyFile: "/host/c.key",
		TokenFile: "/flag/token", ServerName: "agent3.lab"}
	if got != want {
		t.Fatalf("node3 = %+v\nwant    %+v", got, want)
	}
	// The front end's spelling of the options reaches every node.
	sp := agentclient.Spelling{CA: "--cacert", Insecure: "insecure:"}
	nodes, err = Select(inv, "web", "", Defaults{Spelling: sp})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Conn.Spelling != sp {
			t.Errorf("%s: Spelling %+v, want %+v", n.Name, n.Conn.Spelling, sp)
		}
	}
	// Hosts without TLS vars get the flags as they are.
	nodes, err = Select(inv, "web", "node1", d)
	if err != nil {
		t.Fatal(err)
	}
	if c := nodes[0].Conn; c.CAFile != "/flag/ca.crt" || c.KeyFile != "" || c.Insecure {
		t.Fatalf("node1 = %+v, want the flags' CA, no key, not insecure", c)
	}
}

func TestSelect_InsecureTruthiness(t *testing.T) {
	ini := `[n]
t-yes labagent_insecure=yes
t-Yes labagent_insecure=Yes
t-true labagent_insecure=true
t-True labagent_insecure=True
t-TRUE labagent_insecure=TRUE
t-one labagent_insecure=1
t-on labagent_insecure=on
t-y labagent_insecure=y
f-no labagent_insecure=no
f-false labagent_insecure=false
f-False labagent_insecure=False
f-zero labagent_insecure=0
f-off labagent_insecure=off
f-empty labagent_insecure=
f-unset
`
	yml := `all:
  hosts:
    t-yes: {labagent_insecure: yes}
    t-true: {labagent_insecure: true}
    t-string: {labagent_insecure: "true"}
    t-one: {labagent_insecure: 1}
    f-no: {labagent_insecure: no}
    f-false: {labagent_insecure: false}
    f-string: {labagent_insecure: "no"}
    f-zero: {labagent_insecure: 0}
    f-unset: {}
`
	for _, c := range []struct{ file, content string }{{"inv.ini", ini}, {"inv.yml", yml}} {
		t.Run(c.file, func(t *testing.T) {
			inv := loadInventory(t, c.file, c.content)
			nodes, err := Select(inv, "", "", Defaults{})
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != len(inv.Hosts) {
				t.Fatalf("selected %d of %d hosts", len(nodes), len(inv.Hosts))
			}
			for _, n := range nodes {
				want := strings.HasPrefix(n.Name, "t-")
				if n.Conn.Insecure != want {
					t.Errorf("%s (labagent_insecure=%#v): Insecure = %v, want %v", n.Name, n.Vars["labagent_insecure"], n.Conn.Insecure, want)
				}
			}
			// --insecure on the command line applies to every host.
			nodes, err = Select(inv, "", "f-*", Defaults{Insecure: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				if !n.Conn.Insecure {
					t.Errorf("%s: the --insecure flag did not apply", n.Name)
				}
			}
		})
	}
}

func TestSelect_LimitPatterns(t *testing.T) {
	inv := loadInventory(t, "inventory.ini", iniInventory)
	cases := []struct {
		group, limit, want string
	}{
		{"web", "", "node1,node2,node3"},
		{"web", "node2", "node2"},
		{"web", "node3,node1", "node1,node3"}, // the group's order, not the limit's
		{"web", "node*", "node1,node2,node3"},
		{"web", "all:!node2", "node1,node3"},
		{"all", "web:&db", ""},
		{"all", "db:web[0]", "node1,db1,db2"},
		{"all", "~db[0-9]", "db1,db2"},
	}
	for _, c := range cases {
		t.Run(c.group+"/"+c.limit, func(t *testing.T) {
			nodes, err := Select(inv, c.group, c.limit, Defaults{})
			if c.want == "" {
				if !errors.Is(err, ErrInventory) || !strings.Contains(err.Error(), "no hosts in group") {
					t.Fatalf("Select = %s, %v; want ErrInventory saying no hosts match", names(nodes), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if names(nodes) != c.want {
				t.Fatalf("selected %s, want %s", names(nodes), c.want)
			}
		})
	}
}

func TestSelect_AllHostsWithBadPortFails(t *testing.T) {
	// Selecting everything reaches the bad hosts: the whole selection fails.
	inv := loadInventory(t, "inventory.ini", iniInventory)
	if nodes, err := Select(inv, "", "", Defaults{}); !errors.Is(err, ErrInventory) || !strings.Contains(err.Error(), "host bad1") {
		t.Fatalf("Select(all) = %s, %v; want ErrInventory naming bad1", names(nodes), err)
	}
}

func TestSelect_EmptyAndUnknownSelectionsWrapErrInventory(t *testing.T) {
	inv := loadInventory(t, "inventory.ini", iniInventory)
	cases := []struct {
		name, group, limit, want string
	}{
		{"limit excludes everything", "web", "!web", `no hosts in group "web" match --limit "!web"`},
		{"unknown group", "nosuch", "", "nosuch"},
		{"limit names no host", "web", "node9", "node9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nodes, err := Select(inv, c.group, c.limit, Defaults{})
			if !errors.Is(err, ErrInventory) {
				t.Fatalf("Select = %s, %v; want an error wrapping ErrInventory", names(nodes), err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), inv.Source) {
				t.Fatalf("error %q should name %q and the file", err, c.want)
			}
		})
	}
	// An inventory with no hosts at all.
	empty := loadInventory(t, "empty.ini", "# nothing yet\n")
	if _, err := Select(empty, "", "", Defaults{}); !errors.Is(err, ErrInventory) {
		t.Fatalf("empty inventory: %v, want ErrInventory", err)
	}
}

func TestLoadAndResolve(t *testing.T) {
	if _, err := Load(""); !errors.Is(err, ErrInventory) || !strings.Contains(err.Error(), "-i FILE") {
		t.Fatalf("Load(\"\") = %v; want ErrInventory telling how to give one", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.ini")
	if _, err := Load(missing); !errors.Is(err, ErrInventory) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v; want ErrInventory wrapping fs.ErrNotExist", err)
	}
	if _, err := Resolve(missing, "", "", Defaults{}); !errors.Is(err, ErrInventory) {
		t.Fatalf("Resolve(missing) = %v; want ErrInventory", err)
	}
	yml := writeInventory(t, "lab.yml", `all:
  vars:
    labagent_ca: /etc/labfleet/ca.crt
  children:
    nodes:
      hosts:
        node1: {ansible_host: 127.0.0.11, labagent_port: "7443"}
        node2: {ansible_host: 127.0.0.12, labagent_port: 7450, labagent_insecure: true}
      vars:
        labagent_token_file: /etc/labfleet/token
`)
	nodes, err := Resolve(yml, "nodes", "node2", Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	want := agentclient.Options{Addr: "127.0.0.12:7450", CAFile: "/etc/labfleet/ca.crt", TokenFile: "/etc/labfleet/token", Insecure: true}
	if len(nodes) != 1 || nodes[0].Name != "node2" || nodes[0].Conn != want {
		t.Fatalf("Resolve = %+v, want node2 %+v", nodes, want)
	}
	// A quoted port is a string in YAML; it is still a port.
	nodes, err = Resolve(yml, "nodes", "node1", Defaults{})
	if err != nil || nodes[0].Addr() != "127.0.0.11:7443" {
		t.Fatalf("Resolve node1 = %+v, %v; want 127.0.0.11:7443", nodes, err)
	}
	bad := writeInventory(t, "bad.yml", "all:\n  hosts:\n    n1: {labagent_port: seventy}\n")
	if _, err := Resolve(bad, "", "", Defaults{}); !errors.Is(err, ErrInventory) || !strings.Contains(err.Error(), "labagent_port=seventy") {
		t.Fatalf("Resolve(bad port) = %v", err)
	}
}

// infoAgent answers GetInfo with its name, after every agent of the test
// has been called (the barrier), or with an error when fail is set.
type infoAgent struct {
	agentv1.UnimplementedAgentServiceServer
	name    string
	fail    bool
	arrived *atomic.Int32
	want    int32
	all     chan struct{}
}

func (a *infoAgent) GetInfo(ctx context.Context, _ *agentv1.GetInfoRequest) (*agentv1.GetInfoResponse, error) {
	if a.arrived.Add(1) == a.want {
		close(a.all)
	}
	select {
	case <-a.all:
	case <-ctx.Done():
		return nil, status.Error(codes.DeadlineExceeded, "the other agents were not called at the same time")
	}
	if a.fail {
		return nil, status.Errorf(codes.FailedPrecondition, "%s is broken", a.name)
	}
	return &agentv1.GetInfoResponse{NodeName: a.name}, nil
}

// serve runs srv on a fresh loopback port until the test ends.
func serve(t *testing.T, srv agentv1.AgentServiceServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	agentv1.RegisterAgentServiceServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func TestEach_ParallelInNodeOrderWithPerNodeErrors(t *testing.T) {
	var arrived atomic.Int32
	all := make(chan struct{})
	// Three agents must all be in their handler at once for any to answer:
	// a sequential Each would time out on the first.
	var nodes []Node
	for _, a := range []*infoAgent{{name: "a1"}, {name: "a2", fail: true}, {name: "a3"}} {
		a.arrived, a.want, a.all = &arrived, 3, all
		nodes = append(nodes, Node{Name: a.name + "-inv", Conn: agentclient.Options{Addr: serve(t, a), Insecure: true}})
	}
	// Two nodes that fail before any RPC: plaintext off loopback, and a bad address.
	nodes = append([]Node{{Name: "remote", Conn: agentclient.Options{Addr: "192.0.2.1:7443", Insecure: true}}}, nodes...)
	nodes = append(nodes, Node{Name: "noport", Conn: agentclient.Options{Addr: "127.0.0.1", Insecure: true}})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var calls atomic.Int32
	start := time.Now()
	res := Each(ctx, nodes, func(ctx context.Context, c *agentclient.Conn) (string, error) {
		calls.Add(1)
		r, err := c.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
		return r.GetNodeName(), err
	})
	if time.Since(start) > 4*time.Second {
		t.Fatalf("Each took %v: the calls were not parallel", time.Since(start))
	}
	if len(res) != len(nodes) {
		t.Fatalf("%d results for %d nodes", len(res), len(nodes))
	}
	for i := range nodes {
		if res[i].Node.Name != nodes[i].Name || res[i].Node.Addr() != nodes[i].Addr() {
			t.Errorf("result %d is for %s (%s), want %s (%s)", i, res[i].Node.Name, res[i].Node.Addr(), nodes[i].Name, nodes[i].Addr())
		}
	}
	if calls.Load() != 3 {
		t.Errorf("fn was called %d times, want 3 (not for nodes that cannot be dialled)", calls.Load())
	}
	var oe *agentclient.OptionError
	if !errors.As(res[0].Err, &oe) || !strings.Contains(res[0].Err.Error(), "192.0.2.1:7443") {
		t.Errorf("remote: err = %v, want an *agentclient.OptionError naming the address", res[0].Err)
	}
	if res[1].Err != nil || res[1].Value != "a1" {
		t.Errorf("a1: %q, %v", res[1].Value, res[1].Err)
	}
	// A failed call names the agent and keeps its status.
	var ce *agentclient.CallError
	if want := "agent at " + nodes[2].Addr() + ": FailedPrecondition: a2 is broken"; res[2].Err == nil || res[2].Err.Error() != want ||
		!errors.As(res[2].Err, &ce) || ce.Addr != nodes[2].Addr() || status.Code(res[2].Err) != codes.FailedPrecondition || res[2].Value != "" {
		t.Errorf("a2: %q, %v; want a CallError %q with code FailedPrecondition", res[2].Value, res[2].Err, want)
	}
	if res[3].Err != nil || res[3].Value != "a3" {
		t.Errorf("a3: %q, %v", res[3].Value, res[3].Err)
	}
	if !errors.Is(res[4].Err, agentclient.ErrOptions) {
		t.Errorf("noport: err = %v, want agentclient.ErrOptions", res[4].Err)
	}
}

func TestEach_NoNodes(t *testing.T) {
	res := Each(context.Background(), nil, func(context.Context, *agentclient.Conn) (int, error) {
		t.Error("fn called without nodes")
		return 0, nil
	})
	if len(res) != 0 {
		t.Fatalf("%d results for no nodes", len(res))
	}
}

// hungAgent answers GetInfo only when its caller gives up.
type hungAgent struct {
	agentv1.UnimplementedAgentServiceServer
}

func (hungAgent) GetInfo(ctx context.Context, _ *agentv1.GetInfoRequest) (*agentv1.GetInfoResponse, error) {
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}

// One hung node costs its own timeout, not the others' answers, and fn
// sees a deadline even when the caller's context has none.
func TestEachWithin_PerNodeTimeout(t *testing.T) {
	nodes := []Node{
		{Name: "hung", Conn: agentclient.Options{Addr: serve(t, hungAgent{}), Insecure: true}},
		{Name: "ok", Conn: agentclient.Options{Addr: serve(t, &infoAgent{name: "ok", arrived: new(atomic.Int32), want: 1, all: make(chan struct{})}), Insecure: true}},
	}
	var sawDeadline atomic.Int32
	start := time.Now()
	res := EachWithin(context.Background(), nodes, 300*time.Millisecond, func(ctx context.Context, c *agentclient.Conn) (string, error) {
		if _, ok := ctx.Deadline(); ok {
			sawDeadline.Add(1)
		}
		r, err := c.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
		return r.GetNodeName(), err
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("EachWithin took %s with a 300ms per-node timeout", took)
	}
	if sawDeadline.Load() != 2 {
		t.Errorf("fn saw a deadline on %d of 2 nodes", sawDeadline.Load())
	}
	if status.Code(res[0].Err) != codes.DeadlineExceeded || !strings.Contains(res[0].Err.Error(), "did not answer in time") {
		t.Errorf("hung: err = %v, want DeadlineExceeded explained", res[0].Err)
	}
	if res[1].Err != nil || res[1].Value != "ok" {
		t.Errorf("ok: %q, %v", res[1].Value, res[1].Err)
	}
}

// The Nagios plugins read the monitoring identity's host vars and never
// labcontroller's deploy identity.
func TestSelect_MonitoringIdentity(t *testing.T) {
	inv, err := inventory.ParseINI("inv.ini", []byte("[nodes]\nnode1 ansible_host=10.0.0.1 labagent_cert=/etc/labfleet/labcontroller.crt labagent_key=/etc/labfleet/labcontroller.key labagent_monitoring_cert=/etc/labfleet/nagios.crt labagent_monitoring_key=/etc/labfleet/nagios.key\nnode2 ansible_host=10.0.0.2 labagent_cert=/etc/labfleet/labcontroller.crt\n"))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := Select(inv, "nodes", "", Defaults{Monitoring: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := nodes[0].Conn; c.CertFile != "/etc/labfleet/nagios.crt" || c.KeyFile != "/etc/labfleet/nagios.key" {
		t.Errorf("node1 monitoring identity: %+v", c)
	}
	if c := nodes[1].Conn; c.CertFile != "" {
		t.Errorf("node2 has only labcontroller's certificate, which monitoring must not use: %+v", c)
	}
	nodes, _ = Select(inv, "nodes", "", Defaults{})
	if nodes[0].Conn.CertFile != "/etc/labfleet/labcontroller.crt" {
		t.Errorf("labcontroller's identity: %+v", nodes[0].Conn)
	}
}
