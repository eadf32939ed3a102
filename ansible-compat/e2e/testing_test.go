// Package e2e runs labfleet's Ansible modules and dynamic inventory with the
// real ansible-playbook, ansible and ansible-inventory (Debian's
// ansible-core, connection: local) against real labagents and the Docker
// Engine.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/labfleet/labfleet/internal/labtest"
)

// moduleNames are the names the multi-call module binary answers to.
var moduleNames = []string{"labfleet_deploy", "labfleet_rollback", "labfleet_replication", "labfleet_info"}

// built is the process-wide build of the Ansible binaries, laid out as
// `make build` lays them out in bin/.
var built struct {
	once    sync.Once
	dir     string
	err     error
	library string // dir/ansible/library, symlinks to dir/labfleet-ansible
	invExe  string // dir/labfleet-inventory
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// ansibleBinaries builds labfleet-ansible (with its module symlinks in a
// library directory) and labfleet-inventory once per test process.
func ansibleBinaries(t testing.TB) (library, inventoryExe string) {
	t.Helper()
	labtest.RequireReal(t, "the Ansible binaries built for the test")
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "labfleet-ansible-bin-")
		if built.err != nil {
			return
		}
		for name, pkg := range map[string]string{
			"labfleet-ansible":   "./ansible-compat/cmd/labfleet-ansible",
			"labfleet-inventory": "./ansible-compat/cmd/labfleet-inventory",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(built.dir, name), pkg)
			cmd.Dir = labtest.RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				built.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
		built.library = filepath.Join(built.dir, "ansible", "library")
		if built.err = os.MkdirAll(built.library, 0o755); built.err != nil {
			return
		}
		for _, m := range moduleNames {
			if built.err = os.Symlink("../../labfleet-ansible", filepath.Join(built.library, m)); built.err != nil {
				return
			}
		}
		built.invExe = filepath.Join(built.dir, "labfleet-inventory")
	})
	if built.err != nil {
		t.Fatalf("cannot build the Ansible binaries: %v", built.err)
	}
	return built.library, built.invExe
}

// lab is a set of agents and an Ansible setup pointing at them.
type lab struct {
	agents  []*labtest.Agent
	dir     string // playbooks, ansible.cfg, inventory
	inv     string // static inventory
	library string
	invExe  string
	env     []string
}

// newLab starts one insecure loopback agent per prefix, each with a node
// name no other test uses (its containers are removed at the end), and
// writes an inventory with them in the nodes group (connection: local) and
// a minimal ansible.cfg.
func newLab(t *testing.T, prefixes ...string) *lab {
	t.Helper()
	labtest.Tool(t, "ansible-playbook")
	l := &lab{dir: t.TempDir()}
	l.library, l.invExe = ansibleBinaries(t)
	for _, p := range prefixes {
		name := labtest.NodeName(t, p)
		l.agents = append(l.agents, labtest.StartAgent(t, labtest.AgentOptions{Name: name, Mode: labtest.Insecure}))
	}
	l.inv = l.writeInventory(t, "")
	tmp := t.TempDir()
	cfg := l.write(t, "ansible.cfg", fmt.Sprintf(`[defaults]
host_key_checking = False
retry_files_enabled = False
stdout_callback = default
interpreter_python = auto_silent
local_tmp = %s/local
remote_tmp = %s/remote
forks = 10
`, tmp, tmp))
	l.env = []string{"ANSIBLE_CONFIG=" + cfg, "ANSIBLE_LIBRARY=" + l.library, "ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_HOME=" + filepath.Join(tmp, "home"), "LABFLEET_INVENTORY=" + l.inv}
	return l
}

// writeInventory writes the static inventory: the agents in [nodes], plus
// extra lines (e.g. an unreachable node).
func (l *lab) writeInventory(t *testing.T, extra string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[controls]\ncontrol ansible_host=127.0.0.10\n\n[nodes]\n")
	for _, a := range l.agents {
		fmt.Fprintf(&b, "%s ansible_host=%s labagent_port=%s\n", a.Name, a.Host(), port(a.Addr))
	}
	b.WriteString(extra)
	b.WriteString("\n[nodes:vars]\nansible_connection=local\nlabagent_insecure=true\n\n[cluster:children]\ncontrols\nnodes\n")
	return l.write(t, "inventory.ini", b.String())
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

func (l *lab) write(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// playbook runs ansible-playbook on the static inventory.
func (l *lab) playbook(t *testing.T, playbook string, args ...string) labtest.Result {
	t.Helper()
	return labtest.Run(t, l.env, labtest.Tool(t, "ansible-playbook"), append([]string{"-i", l.inv, playbook}, args...)...)
}

// examplePlaybook is a playbook of ansible-compat/examples.
func examplePlaybook(name string) string {
	return filepath.Join(labtest.RepoRoot(), "ansible-compat", "examples", name)
}

var recapRE = regexp.MustCompile(`(?m)^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$`)

// recap parses the PLAY RECAP: host -> counter -> value.
func recap(t *testing.T, r labtest.Result) map[string]map[string]int {
	t.Helper()
	i := strings.LastIndex(r.Stdout, "PLAY RECAP")
	if i < 0 {
		t.Fatalf("no PLAY RECAP (exit %d):\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	out := map[string]map[string]int{}
	for _, m := range recapRE.FindAllStringSubmatch(r.Stdout[i:], -1) {
		counts := map[string]int{}
		for _, kv := range strings.Fields(m[2]) {
			k, v, _ := strings.Cut(kv, "=")
			counts[k], _ = strconv.Atoi(v)
		}
		out[m[1]] = counts
	}
	return out
}

// wantRecap fails the test unless every agent's host has the counters want.
func (l *lab) wantRecap(t *testing.T, what string, r labtest.Result, want map[string]int) {
	t.Helper()
	rc := recap(t, r)
	for _, a := range l.agents {
		for k, v := range want {
			if got, ok := rc[a.Name][k]; !ok || got != v {
				t.Fatalf("%s: %s: want %s=%d, got %v (exit %d)\n%s\n%s", what, a.Name, k, v, rc[a.Name], r.Code, r.Stdout, r.Stderr)
			}
		}
	}
}

// wantServing fails the test unless every agent's app answers want on port.
func (l *lab) wantServing(t *testing.T, what string, port uint32, want string) {
	t.Helper()
	for _, a := range l.agents {
		if got := a.VersionAt(port); got != want {
			t.Fatalf("%s: %s serves %q on :%d, want %q", what, a.Name, got, port, want)
		}
	}
}
