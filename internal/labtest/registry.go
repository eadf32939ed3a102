package labtest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Registry is an OCI registry served in-process over plain HTTP on a
// loopback address, with HTTP basic auth. The Docker Engine treats
// 127.0.0.0/8 as an insecure registry range, so it pulls from it without TLS.
// Content lives in memory and is gone when the test ends.
type Registry struct {
	Addr           string // host:port on a loopback IP
	User, Password string

	pushed atomic.Bool
}

// StartRegistry serves a registry that demands user and password on every
// request, on a fresh loopback IP, until the test ends. Its request log is
// printed only when the test fails.
func StartRegistry(t testing.TB, user, password string) *Registry {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(LoopbackIP(), "0"))
	if err != nil {
		t.Fatalf("cannot listen for the test registry: %v", err)
	}
	logs := &syncBuffer{}
	r := &Registry{Addr: l.Addr().String(), User: user, Password: password}
	srv := &http.Server{
		Handler:           r.basicAuth(logs, registry.New(registry.Logger(log.New(logs, "", log.Ltime|log.Lmicroseconds)))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(logs, "serve: %v\n", err)
		}
	}()
	t.Cleanup(func() {
		if r.pushed.Load() {
			r.untagPulled(t)
		}
		srv.Close()
		<-done
		if t.Failed() {
			t.Logf("registry %s log:\n%s", r.Addr, logs.String())
		}
	})
	return r
}

// basicAuth answers 401 with a Basic challenge unless the request carries
// the registry's user and password. The challenge is what makes the Docker
// Engine send the credentials it was given.
func (r *Registry) basicAuth(logs io.Writer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(r.User)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(r.Password)) != 1 {
			fmt.Fprintf(logs, "%s %s %s 401 (user %q, credentials sent: %v)\n",
				time.Now().Format("15:04:05.000000"), req.Method, req.URL, u, ok)
			w.Header().Set("WWW-Authenticate", `Basic realm="labfleet-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`+"\n")
			return
		}
		next.ServeHTTP(w, req)
	})
}

// Push copies the local engine image localRef into the registry as
// repoTag (e.g. "web:v1") and returns the reference to pull, r.Addr+"/"+repoTag.
// When the registry stops, the engine's tags that point into it (left by
// pulls) are removed, since the address is gone by then; image content
// another tag still uses stays.
func (r *Registry) Push(t testing.TB, localRef, repoTag string) string {
	t.Helper()
	RequireReal(t, "the Docker Engine")
	full := r.Addr + "/" + repoTag
	dst, err := name.NewTag(full, name.Insecure, name.StrictValidation)
	if err != nil {
		t.Fatalf("labtest.Registry.Push: bad repo:tag %q: %v", repoTag, err)
	}
	cli := Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// tarball.Image opens the file several times, so it can't read the
	// save stream directly.
	path := filepath.Join(t.TempDir(), "image.tar")
	if err := saveImage(ctx, cli, localRef, path); err != nil {
		t.Fatalf("cannot push %s: %v", localRef, err)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("cannot push %s: read docker save output: %v", localRef, err)
	}
	auth := &authn.Basic{Username: r.User, Password: r.Password}
	if err := remote.Write(dst, img, remote.WithAuth(auth), remote.WithContext(ctx)); err != nil {
		t.Fatalf("cannot push %s to %s: %v", localRef, full, err)
	}
	r.pushed.Store(true)
	return full
}

func saveImage(ctx context.Context, cli *client.Client, ref, path string) error {
	rc, err := cli.ImageSave(ctx, []string{ref})
	if err != nil {
		return fmt.Errorf("docker save: %w", err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("docker save: %w", err)
	}
	return f.Close()
}

// untagPulled removes the engine's tags that point into this registry.
// Pulled test images keep the labfleet.test label, which narrows the list.
func (r *Registry) untagPulled(t testing.TB) {
	cli, err := dockerClient()
	if err != nil {
		t.Logf("cannot untag images pulled from %s: %v", r.Addr, err)
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", TestLabel+"=1"))})
	if err != nil {
		t.Logf("cannot untag images pulled from %s: %v", r.Addr, err)
		return
	}
	for _, im := range imgs {
		for _, tag := range im.RepoTags {
			if !strings.HasPrefix(tag, r.Addr+"/") {
				continue
			}
			// Not forced: a container still using the image keeps it.
			if _, err := cli.ImageRemove(ctx, tag, image.RemoveOptions{}); err != nil {
				t.Logf("cannot untag %s: %v", tag, err)
			}
		}
	}
}
