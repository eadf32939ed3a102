package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func replAgent(name string, id uint32, peer string, io string, behind int64) *fakeAgent {
	return &fakeAgent{name: name, repl: &agentv1.GetReplicationStatusResponse{
		Server: &agentv1.ServerFacts{ServerId: id, GtidDomainId: id, LogBin: true},
		Connections: []*agentv1.ReplicationConnection{{ConnectionName: peer, MasterHost: "127.0.0.1", MasterPort: 3306, MasterUser: "repl",
			IoRunning: io, SqlRunning: "Yes", SecondsBehindMaster: &behind, GtidSlavePos: "1-1-42"}},
	}}
}

func TestReplicationStatus_Healthy(t *testing.T) {
	inv := fleet(t, replAgent("node1", 1, "node2", "Yes", 0), replAgent("node2", 2, "node1", "Yes", 3))
	code, out, errs := run(t, "-i", inv, "replication", "status")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q\n%s", code, errs, out)
	}
	hasLine(t, "status", out, "node1", "1", "1", "node2", "127.0.0.1:3306", "Yes", "Yes", "0s", "1-1-42", "-")
	hasLine(t, "status", out, "node2", "2", "2", "node1", "127.0.0.1:3306", "Yes", "Yes", "3s", "1-1-42", "-")
}

func TestReplicationStatus_LagAndStoppedThreadFail(t *testing.T) {
	inv := fleet(t, replAgent("node1", 1, "node2", "Yes", 120), replAgent("node2", 2, "node1", "No", 0))
	code, out, errs := run(t, "-i", inv, "replication", "status", "--max-lag", "1m")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	hasLine(t, "status", out, "node1", "node2", "120s", "1-1-42", "lag", "over", "1m0s")
	contains(t, "stderr", errs, "labcontroller: node1: lag over 1m0s\nnode2: ")
}

func TestReplicationStatus_JSON(t *testing.T) {
	inv := fleet(t, replAgent("node1", 1, "node2", "Yes", 0))
	code, out, errs := run(t, "-i", inv, "-o", "json", "replication", "status")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var rows []struct {
		Node   string
		Status struct {
			Connections []struct {
				ConnectionName string `json:"connection_name"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || strings.HasPrefix(out, "NODE") {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if len(rows) != 1 || rows[0].Node != "node1" || len(rows[0].Status.Connections) != 1 || rows[0].Status.Connections[0].ConnectionName != "node2" {
		t.Errorf("rows = %+v", rows)
	}
}
