//go:build !labfleet_faultinject

package server

import "google.golang.org/grpc"

// Release builds carry no fault injection; see fault_on.go.
func faultUnary() []grpc.UnaryServerInterceptor   { return nil }
func faultStream() []grpc.StreamServerInterceptor { return nil }
