package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/labtest"
)

// TestAnsible_ReplicationExamplePlaybook runs examples/replication.yml on two
// nodes, each an agent in front of its own MariaDB: setup runs once for the
// group and changes it, status passes on both nodes, and a second run
// changes nothing. --check on a healthy set changes nothing either.
func TestAnsible_ReplicationExamplePlaybook(t *testing.T) {
	labtest.Tool(t, "ansible-playbook")
	db1 := labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: 1, LogSlaveUpdates: true})
	db2 := labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: 2, LogSlaveUpdates: true})
	l := &lab{dir: t.TempDir()}
	l.library, l.invExe = ansibleBinaries(t)
	for i, db := range []*labtest.MariaDB{db1, db2} {
		l.agents = append(l.agents, labtest.StartAgent(t, labtest.AgentOptions{Name: fmt.Sprintf("ansr%d", i+1), Mode: labtest.Insecure,
			Args: []string{"--mariadb-addr", db.Addr, "--mariadb-user", "root"},
			Env:  []string{"LABAGENT_MARIADB_PASSWORD=" + db.RootPassword}}))
	}
	var b strings.Builder
	b.WriteString("[nodes]\n")
	for i, a := range l.agents {
		db := []*labtest.MariaDB{db1, db2}[i]
		fmt.Fprintf(&b, "%s ansible_host=%s labagent_port=%s mariadb_host=%s mariadb_port=%d\n", a.Name, a.Host(), port(a.Addr), db.IP, db.Port)
	}
	b.WriteString("\n[nodes:vars]\nansible_connection=local\nlabagent_insecure=true\n")
	l.inv = l.write(t, "inventory.ini", b.String())
	tmp := t.TempDir()
	cfg := l.write(t, "ansible.cfg", fmt.Sprintf("[defaults]\nretry_files_enabled = False\nstdout_callback = default\nlocal_tmp = %s/local\n", tmp))
	l.env = []string{"ANSIBLE_CONFIG=" + cfg, "ANSIBLE_LIBRARY=" + l.library, "ANSIBLE_NOCOLOR=1", "ANSIBLE_HOME=" + tmp + "/home"}

	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	pw := "Repl-" + hex.EncodeToString(raw)
	run := func(extra ...string) labtest.Result {
		return l.playbook(t, examplePlaybook("replication.yml"), append([]string{"-v", "-e", "repl_password=" + pw}, extra...)...)
	}
	var outputs []string

	r := run()
	outputs = append(outputs, r.Stdout, r.Stderr)
	rc := recap(t, r)
	first, second := l.agents[0].Name, l.agents[1].Name
	// run_once: the setup result (changed) is counted on the first host.
	if r.Code != 0 || rc[first]["changed"] != 1 || rc[second]["changed"] != 0 || rc[first]["failed"]+rc[second]["failed"] != 0 {
		t.Fatalf("first run: recap %v (exit %d)\n%s\n%s", rc, r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"replication set up and verified", `"io_running": "Yes"`, "auto_increment_offset = 2", "all threads running"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("first run: output lacks %q:\n%s", want, r.Stdout)
		}
	}

	r = run()
	outputs = append(outputs, r.Stdout, r.Stderr)
	l.wantRecap(t, "second run", r, map[string]int{"changed": 0, "failed": 0})
	if !strings.Contains(r.Stdout, "already set up: nothing changed") {
		t.Errorf("second run: output lacks the nothing-changed message:\n%s", r.Stdout)
	}

	r = run("--check")
	outputs = append(outputs, r.Stdout, r.Stderr)
	l.wantRecap(t, "--check", r, map[string]int{"changed": 0, "failed": 0})

	for i, out := range outputs {
		if strings.Contains(out, pw) {
			t.Errorf("output %d shows the replication password:\n%s", i, out)
		}
	}
}
