// Command todo is labfleet's demo app: a small to-do list kept in MariaDB.
// It serves the list at /, adds items with POST /items, and answers
// /healthz (200 only while the database answers) and /version, which is
// what labfleet's health gate, HAProxy's checks and Nagios look at.
//
// Configuration (environment):
//
//	LISTEN       address to listen on (default :8000)
//	DB_HOST      MariaDB host (default 127.0.0.1)
//	DB_PORT      MariaDB port (default 3306)
//	DB_USER      (default todo)
//	DB_PASSWORD  secret: pass it with labcontroller's --secret-env
//	DB_NAME      (default todo)
//	VERSION      overrides the version compiled in
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set at build time: -ldflags "-X main.version=v2".
var version = "dev"

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	if v := os.Getenv("VERSION"); v != "" {
		version = v
	}
	store, err := openStore(env("DB_HOST", "127.0.0.1"), env("DB_PORT", "3306"), env("DB_USER", "todo"), os.Getenv("DB_PASSWORD"), env("DB_NAME", "todo"))
	if err != nil {
		log.Fatalf("todo: %v", err)
	}
	defer store.Close()
	srv := &http.Server{Addr: env("LISTEN", ":8000"), Handler: newApp(store).routes(), ReadHeaderTimeout: 5 * time.Second}
	log.Printf("todo %s listening on %s (database %s:%s)", version, srv.Addr, env("DB_HOST", "127.0.0.1"), env("DB_PORT", "3306"))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		// Let in-flight requests finish: the deploy's stop is graceful.
		sctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("todo: %v", err)
	}
	log.Printf("todo %s stopped", version)
}
