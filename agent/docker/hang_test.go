package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labfleet/labfleet/agent/deploy"
)

// hungEngine is a unix socket that accepts connections and never answers,
// as a wedged dockerd does; it returns the socket as a --docker-host value.
func hungEngine(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lfhung-") // a socket path must fit in 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, "docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c) // read the request, never answer
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	t.Setenv("DOCKER_API_VERSION", "")
	return "unix://" + filepath.Join(dir, "docker.sock")
}

// within runs fn and fails the test if it has not returned after d; a call
// that hangs is reported, not waited for.
func within(t *testing.T, d time.Duration, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Errorf("%s has not returned after %s", what, d)
		return nil
	}
}

func TestHungEngine_EveryCallEndsUnavailable(t *testing.T) {
	host := hungEngine(t)
	e, err := New(host)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const limit = 300 * time.Millisecond
	e.CallTimeout, e.RemoveTimeout, e.PullIdleTimeout = limit, limit, limit
	// The callers give no deadline of their own (a deploy that has started
	// runs on without its caller's).
	ctx := context.Background()
	calls := map[string]func() error{
		"version":                               func() error { _, _, err := e.Version(ctx); return err },
		"image":                                 func() error { _, _, err := e.Image(ctx, "web:v1"); return err },
		"pull":                                  func() error { return e.Pull(ctx, "web:v1", nil, func(int64, int64, string) {}) },
		"create":                                func() error { _, err := e.Create(ctx, deploy.ContainerConfig{Name: "x", Image: "web:v1"}); return err },
		"start":                                 func() error { return e.Start(ctx, longID) },
		"stop":                                  func() error { return e.Stop(ctx, longID, time.Second) },
		"stop with the container's own timeout": func() error { return e.Stop(ctx, longID, 0) },
		"remove":                                func() error { return e.Remove(ctx, longID) },
		"inspect":                               func() error { _, err := e.Inspect(ctx, longID); return err },
		"list":                                  func() error { _, err := e.List(ctx, map[string]string{"a": "b"}); return err },
		"logs":                                  func() error { _, err := e.Logs(ctx, longID, 20); return err },
		"remove image":                          func() error { return e.RemoveImage(ctx, "sha256:abc") },
	}
	var wg sync.WaitGroup
	for what, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := within(t, 10*time.Second, what, call)
			if !errors.Is(err, deploy.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer within") || !strings.Contains(err.Error(), host) {
				t.Errorf("%s on a hung engine = %v; want ErrUnavailable saying the engine at %s did not answer", what, err, host)
			}
		}()
	}
	wg.Wait()
}

// The client library negotiates the API version under a mutex that a
// caller cannot stop waiting for: one call stuck in negotiation held every
// other call, GetInfo's short one included, for as long as it was stuck.
func TestHungEngine_AStuckCallDoesNotHoldAShortOne(t *testing.T) {
	host := hungEngine(t)
	e, err := New(host)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	listed := make(chan error, 1)
	go func() {
		_, err := e.List(context.Background(), nil) // default CallTimeout: 30s
		listed <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the list start negotiating
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := within(t, 10*time.Second, "Version", func() error { _, _, err := e.Version(ctx); return err })
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, deploy.ErrUnavailable) || !strings.Contains(err.Error(), host) {
			t.Errorf("Version %d within its caller's 300ms = %v; want the caller's DeadlineExceeded, naming %s", i, err, host)
		}
	}
	select {
	case err := <-listed:
		t.Errorf("List returned %v before its own 30s deadline", err)
	default:
	}
}

func TestPull_StalledProgressFailsTheDeployNotTheEngine(t *testing.T) {
	f, e := newFakeEngine(t)
	e.PullIdleTimeout = 300 * time.Millisecond
	f.on("POST /images/create", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"Pulling from web","id":"v1"}`)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then silence
	})
	var statuses []string
	err := within(t, 10*time.Second, "Pull", func() error {
		return e.Pull(context.Background(), "web:v1", nil, func(_, _ int64, s string) { statuses = append(statuses, s) })
	})
	if err == nil || errors.Is(err, deploy.ErrUnavailable) || !strings.Contains(err.Error(), "pull web:v1: no progress for 300ms") {
		t.Errorf("a pull that went silent = %v; want a pull failure naming the silence", err)
	}
	if len(statuses) != 1 {
		t.Errorf("progress before the silence: %q", statuses)
	}

	// Progress that keeps coming is not cut, however long the pull takes.
	f.on("POST /images/create", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := range 8 {
			fmt.Fprintf(w, `{"status":"Downloading","id":"layer","progressDetail":{"current":%d,"total":8}}`+"\n", i+1)
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := e.Pull(context.Background(), "web:v1", nil, func(int64, int64, string) {}); err != nil {
		t.Errorf("a slow pull with steady progress = %v", err)
	}
}

func TestPull_EngineThatNeverAnswersIsUnavailable(t *testing.T) {
	f, e := newFakeEngine(t)
	e.CallTimeout = 300 * time.Millisecond
	f.on("POST /images/create", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	err := within(t, 10*time.Second, "Pull", func() error {
		return e.Pull(context.Background(), "web:v1", nil, func(int64, int64, string) {})
	})
	if !errors.Is(err, deploy.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer within 300ms") {
		t.Errorf("a pull the engine never answers = %v; want ErrUnavailable", err)
	}
}

func TestStopSeconds_RoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]int{time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 12700 * time.Millisecond: 13, time.Minute: 60} {
		if got := stopSeconds(d); got != want {
			t.Errorf("stopSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}

func TestSocket(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	for host, want := range map[string]string{"unix:///run/docker.sock": "/run/docker.sock", "tcp://127.0.0.1:2375": ""} {
		e, err := New(host)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Socket(); got != want {
			t.Errorf("Socket() for %s = %q, want %q", host, got, want)
		}
		e.Close()
	}
}
