package replication

import (
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/gtid"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// server is one member's replication status for the history tests.
func server(id uint32, binlogState, slavePos string, conns ...string) *agentv1.GetReplicationStatusResponse {
	st, _ := gtid.Parse(binlogState)
	var pos gtid.List
	for _, d := range st.Domains() {
		g, _ := st.Last(d)
		pos = append(pos, g)
	}
	r := &agentv1.GetReplicationStatusResponse{Server: &agentv1.ServerFacts{ServerId: id, GtidBinlogState: binlogState,
		GtidBinlogPos: pos.String(), GtidSlavePos: slavePos}}
	for _, c := range conns {
		r.Connections = append(r.Connections, &agentv1.ReplicationConnection{ConnectionName: c})
	}
	return r
}

func names(n int) []Member {
	var out []Member
	for i := 1; i <= n; i++ {
		out = append(out, Member{Name: "node" + string(rune('0'+i))})
	}
	return out
}

func situations(h History) string {
	var b strings.Builder
	for _, p := range h.Pairs {
		b.WriteString(p.Situation.String() + ";")
	}
	return b.String()
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		st   []*agentv1.GetReplicationStatusResponse
		want string
	}{
		{"empty binlogs", []*agentv1.GetReplicationStatusResponse{server(1, "", ""), server(2, "", "")}, "fresh;fresh;"},
		{"field servers", []*agentv1.GetReplicationStatusResponse{server(1, "0-1-21", ""), server(2, "0-2-21", "")},
			"unapplied history;unapplied history;"},
		{"one side has history", []*agentv1.GetReplicationStatusResponse{server(1, "0-1-5", ""), server(2, "", "")},
			"fresh;unapplied history;"},
		{"replicating", []*agentv1.GetReplicationStatusResponse{server(1, "1-1-9,2-2-4", "2-2-4", "node2"), server(2, "1-1-9,2-2-4", "1-1-9", "node1")},
			"replicating;replicating;"},
		{"one connection removed, behind", []*agentv1.GetReplicationStatusResponse{server(1, "1-1-9,2-2-4", "2-2-4", "node2"), server(2, "1-1-9,2-2-4", "1-1-7")},
			"replicating;behind;"},
		{"own transactions come back", []*agentv1.GetReplicationStatusResponse{server(1, "1-1-9", ""), server(2, "1-1-9", "1-1-9")},
			"fresh;fresh;"},
	}
	for _, c := range cases {
		h := classify(names(2), c.st, MasterMaster)
		if got := situations(h); got != c.want {
			t.Errorf("%s: situations %q, want %q", c.name, got, c.want)
		}
	}
}

func TestRefusalNamesNodeRangesAndChoices(t *testing.T) {
	st := []*agentv1.GetReplicationStatusResponse{server(1, "0-1-21", ""), server(2, "0-2-21", "")}
	h := classify(names(2), st, MasterMaster)
	if len(h.Conflicts) != 1 || h.Conflicts[0].Domain != 0 {
		t.Fatalf("conflicts %+v, want domain 0 written on both", h.Conflicts)
	}
	p := h.refusal(names(2), Options{}, nil)
	if len(p) != 2 || !strings.Contains(p[0], "node1 has never applied node2's history: 0-2-1..0-2-21 (21 transactions)") ||
		!strings.Contains(p[0], "--start-at current") || !strings.Contains(p[0], "--seed-from node2") {
		t.Fatalf("refusal:\n%s", strings.Join(p, "\n"))
	}
	if p := h.refusal(names(2), Options{StartAt: StartAtCurrent}, nil); len(p) != 0 {
		t.Errorf("--start-at current still refused: %v", p)
	}
	if p := h.refusal(names(2), Options{SeedFrom: "node1"}, map[int]bool{1: true}); len(p) != 0 {
		t.Errorf("--seed-from node1 still refused: %v", p)
	}
	// History in a domain setup assigns (a node already replicated once)
	// cannot be skipped by --start-at current.
	st = []*agentv1.GetReplicationStatusResponse{server(1, "1-1-40", ""), server(2, "", "")}
	h = classify(names(2), st, MasterMaster)
	if p := h.refusal(names(2), Options{StartAt: StartAtCurrent}, nil); len(p) != 1 || !strings.Contains(p[0], "--seed-from node1") {
		t.Errorf("owned-domain history with --start-at current: %v", p)
	}
	// A node that wrote in a domain setup assigns to another: errant.
	st = []*agentv1.GetReplicationStatusResponse{server(1, "", ""), server(2, "1-2-3", "")}
	h = classify(names(2), st, MasterMaster)
	if len(h.Errant) != 1 || !strings.Contains(h.Errant[0], "node2 wrote 1-2-3 in domain 1, which setup assigns to node1") {
		t.Errorf("errant: %v", h.Errant)
	}
}

func TestAnchorsAndStartPositions(t *testing.T) {
	st := []*agentv1.GetReplicationStatusResponse{server(1, "0-1-21", ""), server(2, "0-2-25", ""), server(3, "0-3-8", "0-1-30")}
	h := classify(names(3), st, MasterMaster)
	a := h.anchors(st)
	if len(a) != 1 || a[0].GTID.String() != "0-1-130" {
		t.Fatalf("anchors %+v, want 0-1-130 (past the highest seen, 30, by %d)", a, anchorGap)
	}
	pos := startPositions(st, a)
	for i, p := range pos {
		if p != "0-1-130" {
			t.Errorf("node%d start %q", i+1, p)
		}
	}
	// Nothing to skip: no anchor, no start position.
	st = []*agentv1.GetReplicationStatusResponse{server(1, "", ""), server(2, "", "")}
	h = classify(names(2), st, MasterMaster)
	if a := h.anchors(st); len(a) != 0 || startPositions(st, a)[0] != "" {
		t.Errorf("fresh servers got anchors %v", a)
	}
}
