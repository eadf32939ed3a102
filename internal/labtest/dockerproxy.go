package labtest

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// DockerProxy is a unix socket that forwards every connection to the local
// Docker Engine's socket, so a test can make the engine unreachable for an
// agent (Cut) and reachable again (Restore) while the engine itself, and
// the containers, keep running.
type DockerProxy struct {
	// Path is the proxy's socket; Host is it as a --docker-host value.
	Path, Host string
	target     string

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartDockerProxy listens on a socket in a temp dir and forwards to the
// engine DOCKER_HOST names (when it is a unix socket) or to
// /var/run/docker.sock, until the test ends.
func StartDockerProxy(t testing.TB) *DockerProxy {
	t.Helper()
	RequireReal(t, "the Docker Engine")
	target := "/var/run/docker.sock"
	if h, ok := strings.CutPrefix(os.Getenv("DOCKER_HOST"), "unix://"); ok && h != "" {
		target = h
	}
	dir := t.TempDir()
	if len(dir) > 80 { // a unix socket path must fit in 108 bytes
		d, err := os.MkdirTemp("", "lfdp-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	p := &DockerProxy{Path: filepath.Join(dir, "docker.sock"), target: target, conns: map[net.Conn]struct{}{}}
	p.Host = "unix://" + p.Path
	if err := p.listen(); err != nil {
		t.Fatalf("start Docker proxy: %v", err)
	}
	t.Cleanup(func() {
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *DockerProxy) listen() error {
	_ = os.Remove(p.Path)
	l, err := net.Listen("unix", p.Path)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	p.wg.Add(1)
	go p.accept(l)
	return nil
}

func (p *DockerProxy) accept(l net.Listener) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("unix", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Add(1)
		go p.pipe(c, up)
	}
}

// track registers a connection pair unless the proxy was cut meanwhile.
func (p *DockerProxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l == nil {
		c.Close()
		up.Close()
		return false
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	return true
}

func (p *DockerProxy) pipe(c, up net.Conn) {
	defer p.wg.Done()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close so a response can still flow after the request ends.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// Cut closes the socket and every live connection: from now on the engine
// is unreachable through the proxy (connections are refused, the socket
// file is gone). Cutting twice is harmless.
func (p *DockerProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Restore listens on the same path again; restoring a proxy that is not
// cut does nothing.
func (p *DockerProxy) Restore() error {
	p.mu.Lock()
	up := p.l != nil
	p.mu.Unlock()
	if up {
		return nil
	}
	return p.listen()
}
