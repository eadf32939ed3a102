package server

import (
	"context"
	"path"
	"strings"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/identity"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// methodRoles is the access table: the role each RPC needs, by full method
// name. An RPC missing from it is refused whoever calls (deny by default),
// and TestAccessTable_CoversEveryMethod fails for every method the server
// serves, or the API declares, without an entry: a new RPC must be given
// its role here.
var methodRoles = map[string]identity.Role{
	// Read-only: what the Nagios plugins call.
	agentv1.AgentService_GetInfo_FullMethodName:              identity.Monitoring,
	agentv1.AgentService_GetNodeStats_FullMethodName:         identity.Monitoring,
	agentv1.AgentService_GetApp_FullMethodName:               identity.Monitoring,
	agentv1.AgentService_ListApps_FullMethodName:             identity.Monitoring,
	agentv1.AgentService_GetHistory_FullMethodName:           identity.Monitoring,
	agentv1.AgentService_GetReplicationStatus_FullMethodName: identity.Monitoring,
	agentv1.AgentService_ChecksumTables_FullMethodName:       identity.Monitoring,

	// Changes to the node, or its data leaving it.
	agentv1.AgentService_Deploy_FullMethodName:               identity.Deploy,
	agentv1.AgentService_Rollback_FullMethodName:             identity.Deploy,
	agentv1.AgentService_ConfigureReplication_FullMethodName: identity.Deploy,
	agentv1.AgentService_VerifyReplication_FullMethodName:    identity.Deploy,
	agentv1.AgentService_DumpDatabases_FullMethodName:        identity.Deploy,
	agentv1.AgentService_LoadDump_FullMethodName:             identity.Deploy,

	// Reflection describes the API to grpcurl: any caller with an
	// identity, none without.
	reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      identity.Monitoring,
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: identity.Monitoring,
}

// openServices need no identity at all: load balancers, grpc-health-probe
// and HAProxy check health without a certificate or a token.
var openServices = map[string]bool{
	healthpb.Health_ServiceDesc.ServiceName: true,
}

// isOpen reports whether a call to the service needs no identity.
func isOpen(service string) bool { return openServices[service] }

// authorize refuses a call whose caller could not be identified (with the
// identification's own error) or whose role is below what the method needs.
func authorize(ctx context.Context, method string) error {
	if err := identifyErr(ctx); err != nil {
		return err
	}
	need, ok := methodRoles[method]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "%s is not in the agent's access table, so nobody may call it", method)
	}
	c, _ := identity.CallerFrom(ctx)
	if !c.Role.Allows(need) {
		return status.Errorf(codes.PermissionDenied, "%s needs the %s role; this caller (%s) has %s",
			path.Base(method), need, displayName(c.ID), c.Role)
	}
	return nil
}

// displayName is a caller ID as an operator reads it: the certificate's
// name without its "cert:" prefix.
func displayName(id string) string {
	parts := strings.Split(id, "+")
	for i, p := range parts {
		parts[i] = strings.TrimPrefix(p, "cert:")
	}
	return strings.Join(parts, "+")
}

type identifyErrKey struct{}

// identifyErr is the error identify stored for authorize, or nil.
func identifyErr(ctx context.Context) error {
	err, _ := ctx.Value(identifyErrKey{}).(error)
	return err
}

// withIdentity stores who the caller is (and why it could not be
// identified, if so) for the logging interceptor and authorize.
func (a *authenticator) withIdentity(ctx context.Context) context.Context {
	c, err := a.identify(ctx)
	ctx = identity.WithCaller(ctx, c)
	if err != nil {
		ctx = context.WithValue(ctx, identifyErrKey{}, err)
	}
	return ctx
}

func (a *authenticator) unaryIdentify(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(a.withIdentity(ctx), req)
}

func (a *authenticator) streamIdentify(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	w := middleware.WrapServerStream(ss)
	w.WrappedContext = a.withIdentity(ss.Context())
	return h(srv, w)
}

func unaryAuthorize(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func streamAuthorize(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}
