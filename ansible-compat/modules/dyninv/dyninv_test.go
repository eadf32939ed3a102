package dyninv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	return strings.TrimPrefix(addr.String(), "127.0.0.1:")
}

func writeInv(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "inventory.ini")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestList_UnreachableNodeKeepsItsStaticVars(t *testing.T) {
	inv := writeInv(t, "[controls]\ncontrol ansible_host=127.0.0.10\n\n[nodes]\nnode1 ansible_host=127.0.0.1 labagent_port="+closedPort(t)+
		"\n\n[nodes:vars]\nlabagent_insecure=true\ncolor=blue\n")
	t0 := time.Now()
	out, err := List(context.Background(), Config{Inventory: inv, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(t0) > 3*time.Second {
		t.Errorf("a refused connection took %s", time.Since(t0))
	}
	hv := out["_meta"].(map[string]any)["hostvars"].(map[string]any)
	n1 := hv["node1"].(map[string]any)
	if n1["labfleet_reachable"] != false || n1["color"] != "blue" || !strings.Contains(n1["labfleet_error"].(string), "connection refused") {
		t.Errorf("node1: %v", n1)
	}
	if _, ok := hv["control"].(map[string]any)["labfleet_reachable"]; ok {
		t.Errorf("a host outside nodes was asked: %v", hv["control"])
	}
	if g := out[UnreachableGroup].(map[string]any)["hosts"].([]string); len(g) != 1 || g[0] != "node1" {
		t.Errorf("%s: %v", UnreachableGroup, g)
	}
	if ch := out["all"].(map[string]any)["children"].([]string); ch[len(ch)-1] != UnreachableGroup {
		t.Errorf("all.children: %v", ch)
	}
}

func TestMain_UsageAndConfigErrors(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	var out, errb bytes.Buffer
	if code := Main([]string{"--lst"}, env(nil), &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("bad flag: exit %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := Main([]string{"--list"}, env(nil), &out, &errb); code != 1 || !strings.Contains(errb.String(), "LABFLEET_INVENTORY") {
		t.Errorf("no inventory: exit %d, %s", code, errb.String())
	}
	inv := writeInv(t, "[web]\nw1 ansible_host=127.0.0.1 labagent_port="+closedPort(t)+"\n")
	errb.Reset()
	if code := Main([]string{"--list"}, env(map[string]string{"LABFLEET_INVENTORY": inv}), &out, &errb); code != 1 || !strings.Contains(errb.String(), `no group "nodes"`) {
		t.Errorf("no nodes group: exit %d, %s", code, errb.String())
	}
	out.Reset()
	if code := Main([]string{"--list"}, env(map[string]string{"LABFLEET_INVENTORY": inv, "LABFLEET_GROUP": "web", "LABFLEET_INVENTORY_TIMEOUT": "0.5"}), &out, &errb); code != 0 {
		t.Errorf("--list with LABFLEET_GROUP=web: exit %d, %s", code, errb.String())
	}
	var list map[string]any
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || list["labfleet_unreachable"] == nil {
		t.Errorf("--list output: %v\n%s", err, out.String())
	}
	if _, err := ConfigFromEnv(env(map[string]string{"LABFLEET_INVENTORY": inv, "LABFLEET_INSECURE": "maybe"})); !errors.Is(err, ErrConfig) {
		t.Errorf("LABFLEET_INSECURE=maybe: %v", err)
	}
	if _, err := Host(context.Background(), Config{Inventory: inv, Group: "web"}, "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("--host nosuch: %v", err)
	}
}

func TestAppGroup(t *testing.T) {
	for in, want := range map[string]string{"todo": "app_todo", "todo-api": "app_todo_api", "a.b": "app_a_b"} {
		if got := AppGroup(in); got != want {
			t.Errorf("AppGroup(%q) = %q, want %q", in, got, want)
		}
	}
}
