// Package server builds labagent's gRPC server: transport security, caller
// authentication, request validation, logging, metrics, panic recovery,
// reflection and the standard health service. It knows nothing of deploys or
// databases; the AgentService implementation is handed to it.
//
// It must never log request or response payloads: they carry secret
// environment values and registry and database passwords.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/validator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/identity"
	"github.com/labfleet/labfleet/internal/tlsfiles"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Server is a configured, not yet serving, agent gRPC server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	grpc    *grpc.Server
	health  *health.Server
	metrics *prometheus.Registry
}

// New checks cfg, loads TLS material and the token, and registers svc.
func New(cfg Config, svc agentv1.AgentServiceServer, log *slog.Logger) (*Server, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.MaxRecvBytes == 0 {
		cfg.MaxRecvBytes = 4 << 20
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	creds, err := transportCredentials(cfg)
	if err != nil {
		return nil, err
	}
	authn, err := newAuthenticator(cfg.TokenFile, cfg.TLSClientCA != "")
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srvMetrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(srvMetrics)

	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithFieldsFromContext(func(ctx context.Context) logging.Fields {
			if who := identity.From(ctx); who != "" {
				return logging.Fields{"caller", who}
			}
			return nil
		}),
	}
	// Health checks are polled every few seconds by load balancers and
	// monitoring; they need no identity and are not worth a log line.
	needsAuth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName
	})
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in RPC handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error in the agent (logged with its stack); the agent keeps serving")
	})
	lg := slogAdapter(log)

	unary := []grpc.UnaryServerInterceptor{
		srvMetrics.UnaryServerInterceptor(),
		selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(lg, logOpts...), needsAuth),
		selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authn.authenticate), needsAuth),
		validator.UnaryServerInterceptor(),
		recovery.UnaryServerInterceptor(recoverOpt),
	}
	stream := []grpc.StreamServerInterceptor{
		srvMetrics.StreamServerInterceptor(),
		selector.StreamServerInterceptor(logging.StreamServerInterceptor(lg, logOpts...), needsAuth),
		selector.StreamServerInterceptor(auth.StreamServerInterceptor(authn.authenticate), needsAuth),
		validator.StreamServerInterceptor(),
		recovery.StreamServerInterceptor(recoverOpt),
	}
	unary = append(unary, faultUnary()...)
	stream = append(stream, faultStream()...)

	gs := grpc.NewServer(
		grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(cfg.MaxRecvBytes),
		grpc.MaxSendMsgSize(16<<20),
		grpc.MaxConcurrentStreams(256),
		grpc.ConnectionTimeout(10*time.Second),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second}),
	)
	agentv1.RegisterAgentServiceServer(gs, svc)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	srvMetrics.InitializeMetrics(gs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(agentv1.AgentService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	return &Server{cfg: cfg, log: log, grpc: gs, health: hs, metrics: reg}, nil
}

func transportCredentials(cfg Config) (credentials.TransportCredentials, error) {
	if cfg.Insecure {
		return insecureCreds(), nil
	}
	pair, err := tlsfiles.LoadKeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if cfg.TLSClientCA != "" {
		pool, err := tlsfiles.LoadCAPool(cfg.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven // authenticate() requires it for all but health
	}
	return credentials.NewTLS(tc), nil
}

// Serve serves until ctx is cancelled, then stops gracefully: health turns
// NOT_SERVING so load balancers and the controller stop sending work,
// in-flight RPCs get ShutdownTimeout to finish, and whatever is left is cut.
func (s *Server) Serve(ctx context.Context) error {
	lis, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", s.cfg.Listen, err)
	}
	var metricsSrv *http.Server
	if s.cfg.MetricsListen != "" {
		mlis, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			lis.Close()
			return fmt.Errorf("cannot listen on --metrics-listen %s: %w", s.cfg.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = metricsSrv.Serve(mlis) }()
		s.log.Info("metrics listening", "addr", mlis.Addr().String())
	}
	mode := "tls"
	switch {
	case s.cfg.Insecure:
		mode = "insecure-loopback"
	case s.cfg.TLSClientCA != "":
		mode = "mtls"
	}
	if s.cfg.TokenFile != "" {
		mode += "+token"
	}
	s.log.Info("agent listening", "addr", lis.Addr().String(), "security", mode)

	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gRPC server stopped: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: letting in-flight RPCs finish", "timeout", s.cfg.ShutdownTimeout.String())
	s.health.Shutdown()
	if metricsSrv != nil {
		_ = metricsSrv.Close()
	}
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownTimeout):
		s.log.Warn("shutdown timeout reached; cutting remaining RPCs")
		s.grpc.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// slogAdapter lets go-grpc-middleware's logging interceptor write to slog.
func slogAdapter(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), strings.TrimSpace(msg), fields...)
	})
}
