package haproxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files in testdata are answers of a real HAProxy 2.6.12 (Debian 12),
// captured with socat from this config: frontend fe; backend app with
// `default-server inter 500ms rise 2 fall 2`, servers node1..node4 with
// check and `spare ... check backup`; backend other with `web1 ... check`
// (fall 3 by default) and `nocheck` without check. node2 was set to drain,
// node3 to maint, nothing listened for node4.
//
//	show_stat.txt                       show stat, everything settled
//	show_stat_going_down.txt            node1's app just stopped: "UP 1/2"
//	show_stat_drain_going_down.txt      node2 (drain) just stopped: "DRAIN 1/2"
//	servers_state_app.txt               show servers state app
//	servers_state_all.txt               show servers state
//	servers_state_drain_going_down.txt  show servers state app, with the above
//
// The show_stat_agent_*.txt and servers_state_agent_*.txt pairs come from
// the backend `labcontroller haproxy config --agent-check` writes: node1
// active, node2 `backup`, each with `check` and `agent-check agent-inter
// 500ms`, a test listener answering each agent-check with:
//
//	ok              both "up 100% #caught up"
//	failover        node1 "up 0% #replication: connection 'node2': 5
//	                transactions received, not yet applied" (a comma, so
//	                HAProxy quotes the field); node2 "up 100% #todo
//	                healthy, replication caught up"
//	backup_weight0  node2 "up 0% #replication: IO thread not running"
//	none_usable     node1 "down #app todo: container exited"; node2 "up 0%
//	                #replication: behind by 5 transactions"
//	drain           both "up 100% #caught up"; node1 set to drain
//	unreachable     the listener gone after "up 100%" (agent L4CON)
func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseStat_CapturedAnswerGivesServersAndBackends(t *testing.T) {
	st, err := parseStat(readTestdata(t, "show_stat.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st.backends, ","); got != "app,other" {
		t.Errorf("backends = %s, want app,other", got)
	}
	want := []Server{
		{Backend: "app", Name: "node1", Status: "UP", Weight: 1, CheckStatus: "L7OK", CheckHealth: 3, CheckRise: 2, CheckFall: 2, Addr: "127.0.99.1:18001"},
		{Backend: "app", Name: "node2", Status: "DRAIN", Weight: 1, CheckStatus: "L7OK", CheckHealth: 3, CheckRise: 2, CheckFall: 2, Addr: "127.0.99.1:18002"},
		{Backend: "app", Name: "node3", Status: "MAINT", Weight: 1, Addr: "127.0.99.1:18003"},
		{Backend: "app", Name: "node4", Status: "DOWN", Weight: 1, CheckStatus: "L4CON", CheckRise: 2, CheckFall: 2, Addr: "127.0.99.1:18004"},
		{Backend: "app", Name: "spare", Status: "UP", Weight: 1, Backup: true, CheckStatus: "L7OK", CheckHealth: 3, CheckRise: 2, CheckFall: 2, Addr: "127.0.99.1:18005"},
		{Backend: "other", Name: "web1", Status: "UP", Weight: 1, CheckStatus: "L4OK", CheckHealth: 4, CheckRise: 2, CheckFall: 3, Addr: "127.0.99.1:18001"},
		{Backend: "other", Name: "nocheck", Status: "no check", Weight: 1, Addr: "127.0.99.1:18002"},
	}
	if len(st.servers) != len(want) {
		t.Fatalf("got %d servers, want %d: %+v", len(st.servers), len(want), st.servers)
	}
	for i := range want {
		if st.servers[i] != want[i] {
			t.Errorf("server %d:\n got %+v\nwant %+v", i, st.servers[i], want[i])
		}
	}
}

func TestParseStat_TransitionsKeepTheirFractions(t *testing.T) {
	for _, tc := range []struct {
		file, server, status, check string
		health                      int
	}{
		{"show_stat_going_down.txt", "app/node1", "UP 1/2", "L4CON", 2},
		{"show_stat_drain_going_down.txt", "app/node2", "DRAIN 1/2", "L4CON", 2},
		{"show_stat_drain_going_down.txt", "other/web1", "UP 1/3", "L4CON", 2},
	} {
		st, err := parseStat(readTestdata(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range st.servers {
			if s.Backend+"/"+s.Name != tc.server {
				continue
			}
			found = true
			if s.Status != tc.status || s.CheckStatus != tc.check || s.CheckHealth != tc.health {
				t.Errorf("%s in %s: status %q check %q health %d, want %q %q %d",
					tc.server, tc.file, s.Status, s.CheckStatus, s.CheckHealth, tc.status, tc.check, tc.health)
			}
			// Still operational but one failed check from going down:
			// not healthy.
			s.Operational = true
			if s.Healthy() {
				t.Errorf("%s in %s: Healthy() during %q", tc.server, tc.file, tc.status)
			}
		}
		if !found {
			t.Errorf("%s not in %s", tc.server, tc.file)
		}
	}
}

func TestParseStat_ColumnsByNameQuotedAndEmptyFields(t *testing.T) {
	// Columns in another order than HAProxy's, an unknown column, a quoted
	// field with a comma, a running check ("* L7OK"), a short row, and no
	// type column (older versions): FRONTEND/BACKEND rows are told by name.
	out := "# svname,pxname,status,scur,new_col,check_status,addr,weight,\n" +
		"FRONTEND,fe,OPEN,3,x,,,,\n" +
		"s1,app,UP,2,\"a, b\",* L7OK,127.0.0.1:80,10,\n" +
		"s2,app,DOWN,0\n" +
		"BACKEND,app,UP,2,,,,10,\n" +
		"\n"
	st, err := parseStat(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.backends) != 1 || st.backends[0] != "app" {
		t.Errorf("backends = %v, want [app]", st.backends)
	}
	want := []Server{
		{Backend: "app", Name: "s1", Status: "UP", Sessions: 2, CheckStatus: "L7OK", Addr: "127.0.0.1:80", Weight: 10},
		{Backend: "app", Name: "s2", Status: "DOWN"},
	}
	if len(st.servers) != 2 || st.servers[0] != want[0] || st.servers[1] != want[1] {
		t.Errorf("servers =\n %+v\nwant\n %+v", st.servers, want)
	}
}

func TestParseStat_RejectsWhatIsNotShowStat(t *testing.T) {
	for name, out := range map[string]string{
		"empty":          "",
		"error message":  "Unknown command, but maybe one of the following ones is a better match:\n",
		"no scur column": "# pxname,svname,status\napp,s1,UP\n",
		"scur not a number": "# pxname,svname,status,scur\n" +
			"app,s1,UP,many\n",
	} {
		if _, err := parseStat(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseServersState_CapturedAnswers(t *testing.T) {
	states, err := parseServersState(readTestdata(t, "servers_state_all.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]serverState{
		"app/node1":     {op: 2, admin: 0},
		"app/node2":     {op: 2, admin: 8},
		"app/node3":     {op: 0, admin: 1},
		"app/node4":     {op: 0, admin: 0},
		"app/spare":     {op: 2, admin: 0},
		"other/web1":    {op: 2, admin: 0},
		"other/nocheck": {op: 2, admin: 0},
	}
	if len(states) != len(want) {
		t.Errorf("got %d servers, want %d: %v", len(states), len(want), states)
	}
	for k, w := range want {
		if states[k] != w {
			t.Errorf("%s = %+v, want %+v", k, states[k], w)
		}
	}
	// A drained server whose app stopped: op state stays running until
	// the last failed check, admin state stays drain.
	states, err = parseServersState(readTestdata(t, "servers_state_drain_going_down.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := states["app/node2"]; got != (serverState{op: 2, admin: 8}) {
		t.Errorf("app/node2 going down while drained = %+v, want op 2 admin 8", got)
	}
}

func TestParseServersState_RejectsAnswersWithoutHeader(t *testing.T) {
	for _, out := range []string{"", "Can't find backend.\n\n", "1\n# be_id be_name srv_id\n"} {
		if _, err := parseServersState(out); err == nil {
			t.Errorf("parseServersState(%q): no error", out)
		}
	}
}

func TestAdminState_FollowsHAProxyMasks(t *testing.T) {
	for bits, want := range map[int]string{
		0x00: "ready",
		0x01: "maint", // FMAINT: set server state maint
		0x02: "maint", // IMAINT: a tracked server is in maint
		0x04: "ready", // CMAINT alone: `disabled` in the config, then readied
		0x05: "maint", // `disabled` in the config
		0x08: "drain", // FDRAIN: set server state drain
		0x0c: "drain", // `disabled`, then drained
		0x10: "drain", // IDRAIN
		0x20: "maint", // RMAINT: DNS resolution failed
		0x40: "ready", // FQDN changed from the socket
		0x09: "maint",
	} {
		if got := adminState(bits); got != want {
			t.Errorf("adminState(%#x) = %s, want %s", bits, got, want)
		}
	}
}

func TestServerHealthy(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Server
		want bool
	}{
		{"up", Server{Operational: true, CheckHealth: 3, CheckRise: 2, CheckFall: 2}, true},
		{"going down", Server{Operational: true, CheckHealth: 2, CheckRise: 2, CheckFall: 2}, false},
		{"down", Server{CheckHealth: 0, CheckRise: 2, CheckFall: 2}, false},
		{"no check", Server{Operational: true}, true},
		{"maint", Server{}, false},
	} {
		if got := tc.s.Healthy(); got != tc.want {
			t.Errorf("%s: Healthy() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCheckName_KeepsCommandsSingle(t *testing.T) {
	for _, ok := range []string{"app", "node-1", "web_2.a", "be:x"} {
		if err := checkName("server", ok); err != nil {
			t.Errorf("checkName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a;show info", "a\nb", "a/b", "é"} {
		if err := checkName("server", bad); err == nil {
			t.Errorf("checkName(%q): no error", bad)
		}
	}
}
