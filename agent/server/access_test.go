package server

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/identity"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// TestAccessTable_CoversEveryMethod walks what the server serves and what
// the API declares: an RPC without an entry in methodRoles fails here, so
// nobody can add one and forget to decide who may call it.
func TestAccessTable_CoversEveryMethod(t *testing.T) {
	srv, _, err := newServer(Config{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	served := 0
	for svc, info := range srv.grpc.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			served++
			if _, ok := methodRoles[full]; !ok && !isOpen(svc) {
				t.Errorf("%s has no entry in methodRoles (agent/server/access.go): give it the role it needs", full)
			}
		}
	}
	sd := agentv1.File_labfleet_agent_v1_agent_proto.Services()
	for i := range sd.Len() {
		ms := sd.Get(i).Methods()
		for j := range ms.Len() {
			full := "/" + string(sd.Get(i).FullName()) + "/" + string(ms.Get(j).Name())
			if _, ok := methodRoles[full]; !ok {
				t.Errorf("the API declares %s, which has no entry in methodRoles", full)
			}
		}
	}
	// Every entry names something real, so a renamed RPC cannot leave a
	// stale grant behind.
	for full := range methodRoles {
		svc, m, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
		info, ok := srv.grpc.GetServiceInfo()[svc]
		if !ok || !slices.ContainsFunc(info.Methods, func(mi grpc.MethodInfo) bool { return mi.Name == m }) {
			t.Errorf("methodRoles has %s, which the server does not serve", full)
		}
	}
	if served < 15 {
		t.Fatalf("the server serves only %d methods; the walk is broken", served)
	}
}

// The monitoring role is the read-only RPCs, exactly: widening it is a
// decision to make here, not a side effect.
func TestAccessTable_MonitoringIsTheReadOnlyRPCs(t *testing.T) {
	want := []string{"ChecksumTables", "GetApp", "GetHistory", "GetInfo", "GetNodeStats", "GetReplicationStatus", "ListApps"}
	var got []string
	for full, r := range methodRoles {
		if name, ok := strings.CutPrefix(full, "/"+agentv1.AgentService_ServiceDesc.ServiceName+"/"); ok && r == identity.Monitoring {
			got = append(got, name)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("monitoring may call %v, want %v", got, want)
	}
}

func TestAuthorize(t *testing.T) {
	as := func(id string, r identity.Role) context.Context {
		return identity.WithCaller(context.Background(), identity.Caller{ID: id, Role: r})
	}
	failed := context.WithValue(as("token(invalid)", identity.NoRole), identifyErrKey{}, status.Error(codes.Unauthenticated, "invalid bearer token"))
	cases := []struct {
		name, method string
		ctx          context.Context
		code         codes.Code
		msg          string
	}{
		{"monitoring reads", agentv1.AgentService_GetInfo_FullMethodName, as("cert:nagios", identity.Monitoring), codes.OK, ""},
		{"monitoring deploys", agentv1.AgentService_Deploy_FullMethodName, as("cert:nagios", identity.Monitoring), codes.PermissionDenied,
			"Deploy needs the deploy role; this caller (nagios) has monitoring"},
		{"monitoring token loads a dump", agentv1.AgentService_LoadDump_FullMethodName, as("monitoring-token", identity.Monitoring), codes.PermissionDenied,
			"LoadDump needs the deploy role; this caller (monitoring-token) has monitoring"},
		{"deploy deploys", agentv1.AgentService_Deploy_FullMethodName, as("cert:labcontroller", identity.Deploy), codes.OK, ""},
		{"deploy reads", agentv1.AgentService_ChecksumTables_FullMethodName, as("token", identity.Deploy), codes.OK, ""},
		{"monitoring reflects", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", as("cert:nagios", identity.Monitoring), codes.OK, ""},
		{"no role reflects", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", as("cert:ops", identity.NoRole), codes.PermissionDenied, "has none"},
		{"unknown method", "/labfleet.agent.v1.AgentService/WipeNode", as("cert:labcontroller", identity.Deploy), codes.PermissionDenied,
			"not in the agent's access table"},
		{"identification failed", agentv1.AgentService_GetInfo_FullMethodName, failed, codes.Unauthenticated, "invalid bearer token"},
		{"no caller at all", agentv1.AgentService_GetInfo_FullMethodName, context.Background(), codes.PermissionDenied, "has none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := authorize(c.ctx, c.method)
			if status.Code(err) != c.code || !strings.Contains(status.Convert(err).Message(), c.msg) {
				t.Fatalf("authorize = %v, want %v saying %q", err, c.code, c.msg)
			}
		})
	}
}
