// Command testapp is the web server inside labfleet's test images (see
// labtest.BuildImage). Environment variables pick its behaviour, so one
// static binary gives every variant a deploy test needs:
//
//	PORT          listen port on all interfaces (default 8000)
//	VERSION       served on /version and in the greeting on /
//	MODE          healthy (default), never-healthy, exit, slow-start
//	SLOW_SECONDS  how long slow-start answers 503 on /healthz (default 3)
//
// With -healthcheck URL it does one GET and exits 0 on 200, else 1, so a
// FROM scratch image can carry a Docker HEALTHCHECK without curl. It uses
// only the standard library and must stay that way: it is built with
// CGO_ENABLED=0 and runs with nothing else in the image.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	healthcheck := flag.String("healthcheck", "", "GET `URL` once; exit 0 on 200, else 1")
	flag.Parse()
	if *healthcheck != "" {
		os.Exit(probe(*healthcheck))
	}
	os.Exit(serve())
}

// probe is the Docker HEALTHCHECK command.
func probe(url string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "unhealthy:", resp.Status)
		return 1
	}
	return 0
}

func serve() int {
	start := time.Now()
	port := env("PORT", "8000")
	version := os.Getenv("VERSION")
	host := os.Getenv("HOSTNAME")
	if host == "" {
		host, _ = os.Hostname()
	}
	mode := env("MODE", "healthy")
	slow := 3 * time.Second
	switch mode {
	case "healthy", "never-healthy":
	case "exit":
		// Code 3 is what tests look for to tell this apart from a crash.
		fmt.Fprintln(os.Stderr, "fatal: refusing to start (MODE=exit)")
		return 3
	case "slow-start":
		if s := os.Getenv("SLOW_SECONDS"); s != "" {
			n, err := strconv.ParseFloat(s, 64)
			if err != nil || n < 0 {
				fmt.Fprintf(os.Stderr, "fatal: bad SLOW_SECONDS=%q\n", s)
				return 2
			}
			slow = time.Duration(n * float64(time.Second))
		}
	default:
		fmt.Fprintf(os.Stderr, "fatal: unknown MODE=%q (want healthy, never-healthy, exit or slow-start)\n", mode)
		return 2
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if mode == "never-healthy" || (mode == "slow-start" && time.Since(start) < slow) {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, version)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s on %s", version, host)
	})

	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fatal:", err)
		return 1
	}
	fmt.Printf("listening on :%s version %s\n", port, version)

	// As PID 1 in a container, SIGTERM is ignored unless handled, and
	// stop-first deploys rely on in-flight requests finishing.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		fmt.Fprintln(os.Stderr, "fatal:", err)
		return 1
	case <-ctx.Done():
	}
	fmt.Println("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		return 1
	}
	fmt.Println("stopped")
	return 0
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
