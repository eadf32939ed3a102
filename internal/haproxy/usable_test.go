package haproxy

import (
	"context"
	"slices"
	"testing"
)

// serversFrom reads backend app's servers through Servers from a socket
// that answers with the captured show stat and show servers state files.
func serversFrom(t *testing.T, stat, state string) []Server {
	t.Helper()
	path, _ := startFakeSocket(t, map[string]string{
		"show stat":              readTestdata(t, stat),
		"show servers state app": readTestdata(t, state),
	})
	servers, err := New(path).Servers(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	return servers
}

// The primary/backup backend `labcontroller haproxy config --agent-check`
// writes (node1 active, node2 backup, an agent-check on each), in each
// state captured from HAProxy 2.6.12 (see parse_test.go): which server is
// usable, why not, and which serves.
func TestServers_UsableFollowsHAProxysRuleForBackups(t *testing.T) {
	type want struct {
		usable          bool
		notUsable       string
		comment, status string
	}
	for _, tc := range []struct {
		name        string
		node1       want
		node2       want
		serving     []string
		viaBackup   bool
		agentStatus string
	}{
		{name: "ok",
			node1:   want{true, "", "caught up", "UP"},
			node2:   want{true, "", "caught up", "UP"},
			serving: []string{"node1"}},
		{name: "failover", // node1's agent: "up 0% #replication: ..."
			node1:   want{false, "weight 0 (agent: replication: connection 'node2': 5 transactions received, not yet applied)", "replication: connection 'node2': 5 transactions received, not yet applied", "UP"},
			node2:   want{true, "", "todo healthy, replication caught up", "UP"},
			serving: []string{"node2"}, viaBackup: true},
		{name: "backup_weight0",
			node1:   want{true, "", "caught up", "UP"},
			node2:   want{false, "weight 0 (agent: replication: IO thread not running)", "replication: IO thread not running", "UP"},
			serving: []string{"node1"}},
		{name: "none_usable", // node1's agent: "down #app todo: container exited"
			node1: want{false, "down (agent: app todo: container exited)", "app todo: container exited", "DOWN (agent)"},
			node2: want{false, "weight 0 (agent: replication: behind by 5 transactions)", "replication: behind by 5 transactions", "UP"}},
		{name: "drain", // set server app/node1 state drain
			node1:   want{false, "drain", "caught up", "DRAIN (agent)"},
			node2:   want{true, "", "caught up", "UP"},
			serving: []string{"node2"}, viaBackup: true},
		{name: "unreachable", // no agent listening: HAProxy keeps the last weight
			node1:   want{true, "", "", "UP"},
			node2:   want{true, "", "", "UP"},
			serving: []string{"node1"}, agentStatus: "L4CON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			servers := serversFrom(t, "show_stat_agent_"+tc.name+".txt", "servers_state_agent_"+tc.name+".txt")
			if len(servers) != 2 || servers[0].Name != "node1" || servers[0].Backup || servers[1].Name != "node2" || !servers[1].Backup {
				t.Fatalf("servers = %+v, want node1 active and node2 backup", servers)
			}
			for i, w := range []want{tc.node1, tc.node2} {
				s := servers[i]
				if s.Usable() != w.usable || s.NotUsable() != w.notUsable || s.AgentComment() != w.comment || s.Status != w.status {
					t.Errorf("%s: Usable %v, NotUsable %q, AgentComment %q, Status %q; want %v, %q, %q, %q (agent %q)",
						s.Name, s.Usable(), s.NotUsable(), s.AgentComment(), s.Status, w.usable, w.notUsable, w.comment, w.status, s.Agent)
				}
				if tc.agentStatus != "" && s.AgentStatus != tc.agentStatus {
					t.Errorf("%s: AgentStatus %q, want %q", s.Name, s.AgentStatus, tc.agentStatus)
				}
			}
			serving, viaBackup := Serving(servers)
			var names []string
			for _, s := range serving {
				names = append(names, s.Name)
			}
			if !slices.Equal(names, tc.serving) || viaBackup != tc.viaBackup {
				t.Errorf("Serving = %v, backup %v; want %v, %v", names, viaBackup, tc.serving, tc.viaBackup)
			}
		})
	}
}

// Without agent-checks: drain, maint and a failed health check each make
// a server unusable, and an active server serving keeps the backup idle.
func TestServers_NotUsableNamesDrainMaintAndDown(t *testing.T) {
	servers := serversFrom(t, "show_stat.txt", "servers_state_app.txt")
	want := map[string]string{"node1": "", "node2": "drain", "node3": "maint", "node4": "down (check L4CON)", "spare": ""}
	for _, s := range servers {
		if got := s.NotUsable(); got != want[s.Name] || s.Usable() != (want[s.Name] == "") || s.AgentStatus != "" || s.Agent != "" {
			t.Errorf("%s: NotUsable %q, Usable %v, agent %q %q; want %q", s.Name, got, s.Usable(), s.AgentStatus, s.Agent, want[s.Name])
		}
	}
	if serving, viaBackup := Serving(servers); len(serving) != 1 || serving[0].Name != "node1" || viaBackup {
		t.Errorf("Serving = %+v, %v; want node1 only", serving, viaBackup)
	}
}

func TestAgentComment_ReadsHAProxysWording(t *testing.T) {
	for in, want := range map[string]string{
		"via agent : up (replication: behind (3s), 5 transactions)": "replication: behind (3s), 5 transactions",
		"via agent : down (mariadb not running)":                    "mariadb not running",
		"via agent : up (cut short by HAProxy":                      "cut short by HAProxy",
		"via agent : up":                                            "",
		"Connection refused":                                        "",
		"":                                                          "",
	} {
		if got := AgentComment(in); got != want {
			t.Errorf("AgentComment(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServer_WeightZeroIsNotUsableEvenWhenHealthy(t *testing.T) {
	s := Server{Status: "UP", Weight: 0, Admin: StateReady, Operational: true}
	if s.Usable() || s.NotUsable() != "weight 0" {
		t.Errorf("weight 0: Usable %v, NotUsable %q", s.Usable(), s.NotUsable())
	}
	s.Weight = 1
	if !s.Usable() || s.NotUsable() != "" {
		t.Errorf("weight 1: Usable %v, NotUsable %q", s.Usable(), s.NotUsable())
	}
	s.Admin = ""
	if s.Usable() || s.NotUsable() != "state unknown" {
		t.Errorf("no servers state row: Usable %v, NotUsable %q", s.Usable(), s.NotUsable())
	}
}
