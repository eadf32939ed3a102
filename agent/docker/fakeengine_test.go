package docker

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
)

// fakeEngine is a Docker Engine API on a loopback port that answers what a
// test registers, as Debian's 20.10 engine would (API 1.41), and records
// every request. The real client, with version negotiation, talks to it.
type fakeEngine struct {
	srv *httptest.Server

	mu       sync.Mutex
	routes   map[string]http.HandlerFunc // "METHOD /path" without the version prefix
	requests []request
}

// request is one recorded call.
type request struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         []byte
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+/`)

func newFakeEngine(t *testing.T) (*fakeEngine, *Engine) {
	t.Helper()
	// A client configured from the environment must not pick up TLS settings.
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	t.Setenv("DOCKER_API_VERSION", "")
	f := &fakeEngine{routes: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	e, err := New("tcp://" + f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return f, e
}

func (f *fakeEngine) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_ping" {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Ostype", "linux")
		w.WriteHeader(http.StatusOK)
		return
	}
	path := "/" + versionPrefix.ReplaceAllString(r.URL.Path, "")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, request{Method: r.Method, Path: path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
	h := f.routes[r.Method+" "+path]
	f.mu.Unlock()
	if h == nil {
		engineError(w, http.StatusNotImplemented, "fake engine: no route for "+r.Method+" "+path)
		return
	}
	h(w, r)
}

// on registers a handler for "METHOD /path".
func (f *fakeEngine) on(route string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = h
}

// onJSON answers route with v as JSON.
func (f *fakeEngine) onJSON(route string, code int, v any) {
	f.on(route, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, code, v) })
}

// onError answers route with the engine's error format.
func (f *fakeEngine) onError(route string, code int, msg string) {
	f.on(route, func(w http.ResponseWriter, _ *http.Request) { engineError(w, code, msg) })
}

// last returns the last request to route.
func (f *fakeEngine) last(t *testing.T, route string) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if r := f.requests[i]; r.Method+" "+r.Path == route {
			return r
		}
	}
	t.Fatalf("no request to %s", route)
	return request{}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func engineError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg})
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
