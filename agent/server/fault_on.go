//go:build labfleet_faultinject

package server

// Fault injection for the end-to-end tests, compiled in only with
// -tags labfleet_faultinject so that no release binary can be made to panic
// or stall on request. A caller that sends the metadata
// "x-labfleet-fault: panic" makes the handler panic; "sleep=2s" delays it.
// Both sit inside the recovery interceptor, as a real handler would.

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

func fault(ctx context.Context, method string) {
	// Only the agent's own RPCs: reflection and health stay untouched so
	// tools like grpcurl can still describe the service.
	if !strings.HasPrefix(method, "/labfleet.") {
		return
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("x-labfleet-fault") {
		if v == "panic" {
			panic("injected fault")
		}
		if d, ok := strings.CutPrefix(v, "sleep="); ok {
			if dur, err := time.ParseDuration(d); err == nil {
				time.Sleep(dur)
			}
		}
	}
}

func faultUnary() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		fault(ctx, info.FullMethod)
		return h(ctx, req)
	}}
}

func faultStream() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		fault(ss.Context(), info.FullMethod)
		return h(srv, ss)
	}}
}
