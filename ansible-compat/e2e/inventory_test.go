package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// TestAnsible_DynamicInventory reads labfleet-inventory through the real
// ansible-inventory and ansible: the static groups stay, every node gets the
// agents' facts as host vars, app_<name> groups hold the nodes running each
// app, and a node whose agent is down lands in labfleet_unreachable with
// its static vars intact.
func TestAnsible_DynamicInventory(t *testing.T) {
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	l := newLab(t, "ansv1", "ansv2")
	a1, a2 := l.agents[0], l.agents[1]
	labtest.Deploy(t, a1.Client(t), labtest.WebDeploy("web", v1, "v1", "", 0, 20*time.Second)).MustSucceed(t, "web on node 1")
	labtest.Deploy(t, a2.Client(t), labtest.WebDeploy("web", v1, "v1", "", 0, 20*time.Second)).MustSucceed(t, "web on node 2")
	labtest.Deploy(t, a1.Client(t), labtest.WebDeploy("todo-api", v1, "1.2", "", 0, 20*time.Second)).MustSucceed(t, "todo-api on node 1")
	ghostPort := port(labtest.FreeAddr(t, "127.0.0.1"))
	l.inv = l.writeInventory(t, fmt.Sprintf("ghost ansible_host=127.0.0.1 labagent_port=%s\n", ghostPort))
	env := l.env // LABFLEET_INVENTORY names l.inv, rewritten in place

	r := labtest.Run(t, env, labtest.Tool(t, "ansible-inventory"), "-i", l.invExe, "--list")
	if r.Code != 0 {
		t.Fatalf("ansible-inventory --list: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	var got struct {
		Meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
		All struct {
			Children []string `json:"children"`
		} `json:"all"`
		Groups map[string]struct {
			Hosts    []string `json:"hosts"`
			Children []string `json:"children"`
		} `json:"-"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("ansible-inventory --list: %v\n%s", err, r.Stdout)
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got.Groups); err != nil {
		t.Fatalf("ansible-inventory --list: %v\n%s", err, r.Stdout)
	}
	wantHosts := map[string][]string{
		"nodes":                {a1.Name, a2.Name, "ghost"},
		"controls":             {"control"},
		"app_web":              {a1.Name, a2.Name},
		"app_todo_api":         {a1.Name},
		"labfleet_unreachable": {"ghost"},
	}
	for g, want := range wantHosts {
		hosts := slices.Clone(got.Groups[g].Hosts)
		slices.Sort(hosts)
		slices.Sort(want)
		if !slices.Equal(hosts, want) {
			t.Errorf("group %s: hosts %v, want %v\n%s", g, hosts, want, r.Stdout)
		}
	}
	if !slices.Contains(got.Groups["cluster"].Children, "nodes") {
		t.Errorf("the static group cluster lost its child nodes:\n%s", r.Stdout)
	}
	for _, g := range []string{"app_web", "app_todo_api", "labfleet_unreachable", "cluster"} {
		if !slices.Contains(got.All.Children, g) {
			t.Errorf("all.children lacks %s: %v", g, got.All.Children)
		}
	}

	hv := got.Meta.Hostvars
	for _, a := range l.agents {
		v := hv[a.Name]
		if v["labfleet_reachable"] != true || v["labfleet_node_name"] != a.Name || v["labfleet_agent_version"] == "" ||
			v["ansible_host"] != a.Host() || v["ansible_connection"] != "local" {
			t.Errorf("host vars of %s: %v", a.Name, v)
		}
	}
	if apps, _ := hv[a1.Name]["labfleet_apps"].(map[string]any); apps["web"] != "v1" || apps["todo-api"] != "1.2" || len(apps) != 2 {
		t.Errorf("labfleet_apps of %s: %v, want web: v1 and todo-api: 1.2", a1.Name, hv[a1.Name]["labfleet_apps"])
	}
	ghost := hv["ghost"]
	if ghost["labfleet_reachable"] != false || ghost["ansible_host"] != "127.0.0.1" || fmt.Sprint(ghost["labagent_port"]) != ghostPort ||
		!strings.Contains(fmt.Sprint(ghost["labfleet_error"]), "connection refused") {
		t.Errorf("host vars of the unreachable node: %v", ghost)
	}

	// `--host` gives one host's vars.
	r = labtest.Run(t, env, l.invExe, "--host", a2.Name)
	var one map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &one); r.Code != 0 || err != nil || one["labfleet_node_name"] != a2.Name {
		t.Errorf("labfleet-inventory --host %s: exit %d, %v\n%s%s", a2.Name, r.Code, err, r.Stdout, r.Stderr)
	}

	// An ad-hoc command on an app group, through the inventory script.
	r = labtest.Run(t, env, labtest.Tool(t, "ansible"), "-i", l.invExe, "app_web", "-m", "labfleet_info",
		"-a", "agent={{ ansible_host }}:{{ labagent_port }} insecure={{ labagent_insecure }}")
	if r.Code != 0 || strings.Count(r.Stdout, "| SUCCESS") != 2 || strings.Contains(r.Stdout, "ghost") {
		t.Errorf("ansible app_web -m labfleet_info: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// Without LABFLEET_INVENTORY the script says what to set.
	r = labtest.Run(t, []string{"LABFLEET_INVENTORY="}, l.invExe, "--list")
	if r.Code != 1 || !strings.Contains(r.Stderr, "LABFLEET_INVENTORY") {
		t.Errorf("labfleet-inventory without LABFLEET_INVENTORY: exit %d\n%s", r.Code, r.Stderr)
	}
}
