package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// TestAnsible_DeployExamplePlaybook runs ansible-compat/examples/deploy.yml
// against two agents: the first run changes both nodes, the second
// changes nothing, --check with a new image reports a change but makes
// none, and a never-healthy image fails each node's task with the agent's
// message while the old version keeps serving. Then a real upgrade and a
// rollback with examples/rollback.yml, which is idempotent too.
func TestAnsible_DeployExamplePlaybook(t *testing.T) {
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	v2 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v2"})
	bad := labtest.BuildImage(t, labtest.ImageOptions{Version: "v3", Mode: labtest.ModeNeverHealthy})
	l := newLab(t, "ansd1", "ansd2")
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	secret := "Sup3rSecret-" + hex.EncodeToString(b)

	deploy := func(image, version string, extra ...string) labtest.Result {
		args := append([]string{"-v", "-e", "app_name=web", "-e", "app_image=" + image, "-e", "app_version=" + version,
			"-e", "app_health_timeout=5", "-e", fmt.Sprintf(`{"app_secret_env": {"DB_PASSWORD": %q}, "app_env": {"GREETING": "hello"}}`, secret)}, extra...)
		return l.playbook(t, examplePlaybook("deploy.yml"), args...)
	}
	var outputs []string
	keep := func(r labtest.Result) labtest.Result { outputs = append(outputs, r.Stdout, r.Stderr); return r }

	r := keep(deploy(v1, "v1"))
	l.wantRecap(t, "first run", r, map[string]int{"changed": 1, "failed": 0})
	l.wantServing(t, "after the first run", labtest.AppPort, "v1")
	if !strings.Contains(r.Stdout, "runs web v1") {
		t.Errorf("first run: the report task does not say what runs:\n%s", r.Stdout)
	}

	r = keep(deploy(v1, "v1"))
	l.wantRecap(t, "second run", r, map[string]int{"changed": 0, "failed": 0})
	if !strings.Contains(r.Stdout, "nothing changed") || !strings.Contains(r.Stdout, `"outcome": "unchanged"`) {
		t.Errorf("second run: the agent's UNCHANGED answer is not shown:\n%s", r.Stdout)
	}

	before := historyLen(t, l)
	r = keep(deploy(v2, "v2", "--check", "--diff"))
	l.wantRecap(t, "--check with v2", r, map[string]int{"changed": 1, "failed": 0})
	l.wantServing(t, "after --check", labtest.AppPort, "v1")
	if after := historyLen(t, l); after != before {
		t.Errorf("--check called Deploy: %d history entries before, %d after", before, after)
	}
	if !strings.Contains(r.Stdout, "would replace version v1") || !strings.Contains(r.Stdout, "+version: v2") {
		t.Errorf("--check: want the would-deploy message and a diff:\n%s", r.Stdout)
	}
	r = keep(deploy(v1, "v1", "--check"))
	l.wantRecap(t, "--check with v1", r, map[string]int{"changed": 0, "failed": 0})

	// The agent's health gate refuses the new container and puts v1 back;
	// the task fails on each node with the agent's own message.
	r = keep(deploy(bad, "v3"))
	l.wantRecap(t, "never-healthy image", r, map[string]int{"changed": 0, "failed": 1})
	for _, want := range []string{"health failed: not healthy within 5s", "version v1 is serving again", `"failed_phase": "health"`, `"running_version": "v1"`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("never-healthy image: the output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if r.Code == 0 {
		t.Errorf("never-healthy image: ansible-playbook exited 0")
	}
	l.wantServing(t, "after the failed deploy", labtest.AppPort, "v1")

	r = keep(deploy(v2, "v2"))
	l.wantRecap(t, "upgrade to v2", r, map[string]int{"changed": 1, "failed": 0})
	l.wantServing(t, "after the upgrade", labtest.AppPort, "v2")

	rollback := func(extra ...string) labtest.Result {
		return keep(l.playbook(t, examplePlaybook("rollback.yml"), append([]string{"-v", "-e", "app_name=web", "-e", "rollback_version=v1"}, extra...)...))
	}
	r = rollback("--check")
	l.wantRecap(t, "rollback --check", r, map[string]int{"changed": 1, "failed": 0})
	l.wantServing(t, "after rollback --check", labtest.AppPort, "v2")
	if !strings.Contains(r.Stdout, "would roll web back from version v2 to version v1") {
		t.Errorf("rollback --check: no would-roll-back message:\n%s", r.Stdout)
	}
	r = rollback()
	l.wantRecap(t, "rollback to v1", r, map[string]int{"changed": 1, "failed": 0})
	l.wantServing(t, "after the rollback", labtest.AppPort, "v1")
	r = rollback()
	l.wantRecap(t, "second rollback to v1", r, map[string]int{"changed": 0, "failed": 0})

	for i, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("output %d shows the secret value:\n%s", i, out)
		}
	}
	for _, a := range l.agents {
		if strings.Contains(a.Log(), secret) {
			t.Errorf("agent %s logged the secret value", a.Name)
		}
	}
}

// historyLen counts the deploys and rollbacks every agent has recorded.
func historyLen(t *testing.T, l *lab) int {
	t.Helper()
	n := 0
	for _, a := range l.agents {
		n += len(labtest.History(t, a.Client(t), ""))
	}
	return n
}

// TestAnsible_InfoFacts checks labfleet_info's facts with assert tasks.
func TestAnsible_InfoFacts(t *testing.T) {
	v1 := labtest.BuildImage(t, labtest.ImageOptions{Version: "v1"})
	l := newLab(t, "ansi1")
	a := l.agents[0]
	labtest.Deploy(t, a.Client(t), labtest.WebDeploy("web", v1, "v1", "", labtest.AppPort, 20*time.Second)).MustSucceed(t, "deploy web v1")

	pb := l.write(t, "facts.yml", `
- hosts: nodes
  gather_facts: false
  tasks:
    - labfleet_info:
        agent: "{{ ansible_host }}:{{ labagent_port }}"
        insecure: "{{ labagent_insecure }}"
    - assert:
        that:
          - ansible_facts.labfleet.node_name == inventory_hostname
          - ansible_facts.labfleet.agent_version != ""
          - ansible_facts.labfleet.docker.reachable
          - ansible_facts.labfleet.mariadb.configured == false
          - ansible_facts.labfleet.apps | length == 1
          - ansible_facts.labfleet.apps[0].name == "web"
          - ansible_facts.labfleet.apps[0].version == "v1"
          - ansible_facts.labfleet.apps[0].state == "running"
          - ansible_facts.labfleet.apps[0].health == "healthy"
          - ansible_facts.labfleet.apps[0].digest is match("sha256:")
          - ansible_facts.labfleet.apps[0].ports == ["8000:8000"]
    - name: an unreachable agent fails the task with the reason
      labfleet_info:
        agent: "127.0.0.1:1"
        insecure: true
        timeout: 3
      register: down
      ignore_errors: true
    - assert:
        that:
          - down is failed
          - '"connection refused" in down.msg'
    - name: a wrong option is reported like AnsibleModule reports it
      labfleet_deploy:
        app: web
        imag: typo
      register: typo
      ignore_errors: true
    - assert:
        that:
          - typo is failed
          - '"Unsupported parameters for (labfleet_deploy) module: imag." in typo.msg'
          - '"missing required arguments: image" in typo.msg'
`)
	r := l.playbook(t, pb)
	rc := recap(t, r)[a.Name]
	if rc["failed"] != 0 || rc["ignored"] != 2 {
		t.Fatalf("facts playbook: recap %v (exit %d)\n%s\n%s", rc, r.Code, r.Stdout, r.Stderr)
	}
}
