package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/labfleet/labfleet/internal/tlsfiles"
)

// expiryWarning is how long before its certificate expires the agent warns
// at start and on every reload.
const expiryWarning = 30 * 24 * time.Hour

// tlsFiles is the agent's certificate, key and client CA, loaded from
// their files and swapped whole on reload. Every handshake takes the
// current set (GetConfigForClient), so new connections use new files while
// established ones keep the session they negotiated.
type tlsFiles struct {
	cert, key, clientCA string
	allowReadable       bool
	log                 *slog.Logger
	cur                 atomic.Pointer[tls.Config]
}

func newTLSFiles(cfg Config, log *slog.Logger) (*tlsFiles, error) {
	t := &tlsFiles{cert: cfg.TLSCert, key: cfg.TLSKey, clientCA: cfg.TLSClientCA, allowReadable: cfg.AllowReadableSecrets, log: log}
	c, err := t.load()
	if err != nil {
		return nil, err
	}
	t.cur.Store(c)
	return t, nil
}

// load reads and checks the files without installing them.
func (t *tlsFiles) load() (*tls.Config, error) {
	if err := CheckSecret("--tls-key", t.key, t.allowReadable, t.log); err != nil {
		return nil, err
	}
	pair, err := tlsfiles.LoadKeyPair(t.cert, t.key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	// No session tickets: a session resumed after a reload would skip
	// checking the client's certificate against the new client CA. The
	// agent's callers hold long-lived HTTP/2 connections, so resumption
	// saves little.
	c := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, SessionTicketsDisabled: true}
	if t.clientCA != "" {
		pool, err := tlsfiles.LoadCAPool(t.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven // identify() requires it for all but health
	}
	return c, nil
}

// logLoaded says which certificate the agent serves and warns when it
// expires soon.
func (t *tlsFiles) logLoaded(msg string) {
	leaf := t.cur.Load().Certificates[0].Leaf
	left := time.Until(leaf.NotAfter)
	args := []any{"cert", t.cert, "subject", leaf.Subject.CommonName, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339)}
	if t.clientCA != "" {
		args = append(args, "client_ca", t.clientCA)
	}
	t.log.Info(msg, args...)
	if left < expiryWarning {
		t.log.Warn("the agent's certificate expires soon; renew it (labcontroller certs renew) and send the agent SIGHUP",
			"cert", t.cert, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "days_left", int(left.Hours()/24))
	}
}

// creds are the transport credentials gRPC serves with: TLS taking the
// current files at each handshake, logging each failed handshake.
func (t *tlsFiles) creds() credentials.TransportCredentials {
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load(), nil
		},
	}
	return loggedCreds{TransportCredentials: credentials.NewTLS(base), log: t.log}
}

// loggedCreds logs every failed TLS handshake with the peer's address:
// gRPC drops them silently, so without this a client with a wrong
// certificate, or a scanner, leaves no trace in the agent's log.
type loggedCreds struct {
	credentials.TransportCredentials
	log *slog.Logger
}

var _ credentials.TransportCredentials = loggedCreds{}

// ServerHandshake runs the TLS handshake and logs its failure.
func (c loggedCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		// A connection closed before it said anything is a port check
		// (HAProxy, a TCP probe): worth a debug line, not a warning.
		lvl := slog.LevelWarn
		if errors.Is(err, io.EOF) {
			lvl = slog.LevelDebug
		}
		c.log.Log(context.Background(), lvl, "TLS handshake failed", "peer.address", raw.RemoteAddr().String(), "err", err.Error())
	}
	return conn, info, err
}

// Clone keeps the logging.
func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log}
}
