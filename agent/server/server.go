// Package server builds labagent's gRPC server: transport security (with
// certificates reloaded on demand), caller authentication, authorization by
// role (access.go: the role every RPC needs), request validation, an audit
// line per call, metrics, panic recovery, reflection and the standard
// health service. It knows nothing of deploys or databases; the
// AgentService implementation is handed to it.
//
// It must never log request or response payloads, tokens or keys: they
// carry secret environment values and registry and database passwords. It
// must never serve an RPC that has no entry in the access table.
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
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/validator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/agent/identity"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Server is a configured, not yet serving, agent gRPC server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	grpc    *grpc.Server
	health  *health.Server
	metrics *prometheus.Registry
	authn   *authenticator
	tls     *tlsFiles // nil with --insecure
}

// New checks cfg, loads TLS material and the tokens, and registers svc.
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
	s := &Server{cfg: cfg, log: log}
	creds := insecureCreds()
	if !cfg.Insecure {
		t, err := newTLSFiles(cfg, log)
		if err != nil {
			return nil, err
		}
		s.tls, creds = t, t.creds()
	}
	authn, err := newAuthenticator(cfg, log)
	if err != nil {
		return nil, err
	}
	s.authn = authn

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srvMetrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(srvMetrics)

	// Every call's line names the caller and its role, also when the call
	// is refused: identify runs before the logging interceptor, authorize
	// after it.
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithFieldsFromContext(func(ctx context.Context) logging.Fields {
			c, ok := identity.CallerFrom(ctx)
			if !ok {
				return nil
			}
			return logging.Fields{"caller", c.ID, "role", c.Role.String()}
		}),
	}
	// Health checks are polled every few seconds by load balancers and
	// monitoring; they need no identity and are not worth a log line.
	needsAuth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return !isOpen(c.Service)
	})
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in RPC handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error in the agent (logged with its stack); the agent keeps serving")
	})
	lg := slogAdapter(log)

	unary := []grpc.UnaryServerInterceptor{
		srvMetrics.UnaryServerInterceptor(),
		selector.UnaryServerInterceptor(authn.unaryIdentify, needsAuth),
		selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(lg, logOpts...), needsAuth),
		selector.UnaryServerInterceptor(unaryAuthorize, needsAuth),
		validator.UnaryServerInterceptor(),
		recovery.UnaryServerInterceptor(recoverOpt),
	}
	stream := []grpc.StreamServerInterceptor{
		srvMetrics.StreamServerInterceptor(),
		selector.StreamServerInterceptor(authn.streamIdentify, needsAuth),
		selector.StreamServerInterceptor(logging.StreamServerInterceptor(lg, logOpts...), needsAuth),
		selector.StreamServerInterceptor(streamAuthorize, needsAuth),
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

	s.grpc, s.health, s.metrics = gs, hs, reg
	return s, nil
}

// Reload re-reads the certificate, key and client CA and the token files,
// as on SIGHUP. New handshakes and calls use the new ones; established
// connections keep the session they negotiated. When any file is bad,
// nothing changes and the error says which file and why.
func (s *Server) Reload() error {
	var next *tls.Config
	if s.tls != nil {
		c, err := s.tls.load()
		if err != nil {
			return err
		}
		next = c
	}
	var tokens *tokenSet
	if s.authn.tokenFiles != (tokenFiles{}) {
		ts, err := s.authn.tokenFiles.load(s.cfg.AllowReadableSecrets, s.log)
		if err != nil {
			return err
		}
		tokens = ts
	}
	if next != nil {
		s.tls.cur.Store(next)
		s.tls.logLoaded("reloaded the TLS certificate, key and client CA")
	}
	if tokens != nil {
		s.authn.tokens.Store(tokens)
		s.log.Info("reloaded the token files")
	}
	if next == nil && tokens == nil {
		s.log.Info("nothing to reload: the agent serves plaintext on loopback without tokens")
	}
	return nil
}

// Serve serves until ctx is cancelled, then stops gracefully: health turns
// NOT_SERVING so load balancers and the controller stop sending work,
// in-flight RPCs get ShutdownTimeout to finish, and whatever is left is cut.
func (s *Server) Serve(ctx context.Context) error {
	lis, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", s.cfg.Listen, err)
	}
	return s.serve(ctx, lis)
}

// serve is Serve on a listener that is already open.
func (s *Server) serve(ctx context.Context, lis net.Listener) error {
	// --insecure was allowed for a loopback --listen; a host name (such as
	// localhost) could have resolved elsewhere, so check what is bound.
	if bound, ok := lis.Addr().(*net.TCPAddr); s.cfg.Insecure && (!ok || !bound.IP.IsLoopback()) {
		lis.Close()
		return fmt.Errorf("%w: --insecure refused: --listen %s is bound to %s, which is not a loopback address; give a loopback IP such as 127.0.0.1",
			ErrConfig, s.cfg.Listen, lis.Addr())
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
	if s.cfg.MonitoringTokenFile != "" {
		mode += "+monitoring-token"
	}
	if s.tls != nil {
		s.tls.logLoaded("serving TLS certificate")
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
