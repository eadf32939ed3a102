package labtest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/pkg/jsonmessage"
)

// TodoImageRepo is the local repository of the demo app's test images.
const TodoImageRepo = "labfleet-test/todo"

var (
	todoMu     sync.Mutex
	todoImages = map[string]*imageBuild{}
)

// TodoImage builds (once per process per version) the demo app,
// examples/todo, the way `make lab` does (scripts/lab.sh images_up): a
// static binary (CGO_ENABLED=0, -trimpath, -ldflags "-s -w -X
// main.version=VERSION") in an image made from examples/todo/Dockerfile
// (FROM scratch), labelled labfleet.test=1. The tag is
// TodoImageRepo:VERSION-<hash of binary and Dockerfile>, so re-runs and
// parallel test processes share one image; it is left in place like
// BuildImage's.
func TodoImage(t testing.TB, version string) string {
	t.Helper()
	RequireReal(t, "the Docker Engine")
	if !versionRE.MatchString(version) {
		t.Fatalf("labtest.TodoImage: version %q is not usable in an image tag", version)
	}
	todoMu.Lock()
	b, ok := todoImages[version]
	if !ok {
		b = &imageBuild{}
		todoImages[version] = b
	}
	todoMu.Unlock()
	b.once.Do(func() { b.ref, b.err = buildTodo(version) })
	if b.err != nil {
		t.Fatalf("cannot build the todo image %s: %v", version, b.err)
	}
	return b.ref
}

func buildTodo(version string) (string, error) {
	dir, err := os.MkdirTemp("", "labfleet-todo-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "todo")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, "./examples/todo")
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./examples/todo: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return "", err
	}
	df, err := os.ReadFile(filepath.Join(RepoRoot(), "examples", "todo", "Dockerfile"))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(bin)
	h.Write([]byte{0})
	h.Write(df)
	ref := fmt.Sprintf("%s:%s-%s", TodoImageRepo, version, hex.EncodeToString(h.Sum(nil))[:12])

	cli, err := dockerClient()
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, df}, {"todo", 0o755, bin}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags: []string{ref}, Dockerfile: "Dockerfile", Remove: true, ForceRemove: true,
		Labels: map[string]string{TestLabel: "1"}, Version: build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("docker build %s: %w", ref, err)
	}
	defer resp.Body.Close()
	var log bytes.Buffer
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, &log, 0, false, nil); err != nil {
		return "", fmt.Errorf("docker build %s: %w\n%s", ref, err, log.String())
	}
	return ref, nil
}
