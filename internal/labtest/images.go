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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// TestLabel marks every image and container the tests make, so a person (or
// a prune) can find leftovers with `docker ps -a --filter label=labfleet.test=1`.
const TestLabel = "labfleet.test"

// ImageRepo is the local repository of the test images.
const ImageRepo = "labfleet-test/web"

// Test app modes, see ImageOptions.Mode.
const (
	ModeHealthy      = "healthy"
	ModeNeverHealthy = "never-healthy"
	ModeExit         = "exit"
	ModeSlowStart    = "slow-start"
)

// ImageOptions picks a test image variant. The image runs testapp (in
// internal/labtest/testapp) listening on port 8000.
type ImageOptions struct {
	// Version is served on /version; it becomes part of the tag, so it may
	// hold only letters, digits, '.', '_' and '-'. Default "v1".
	Version string
	// Mode is ModeHealthy (default), ModeNeverHealthy (/healthz is always
	// 503), ModeExit (exits 3 at start) or ModeSlowStart (/healthz is 503
	// for the first SLOW_SECONDS, default 3; set it with the container env).
	Mode string
	// DockerHealthcheck adds a HEALTHCHECK (1 s interval, 2 s timeout,
	// 2 retries) on /healthz, so State.Health is set.
	DockerHealthcheck bool
}

var versionRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

// Docker returns a client for the local Docker Engine with the API version
// negotiated (Debian's engine speaks 1.41), closed at the end of the test.
// It fails the test when the engine does not answer, and skips it under
// -short (RequireReal).
func Docker(t testing.TB) *client.Client {
	t.Helper()
	RequireReal(t, "the Docker Engine")
	cli, err := dockerClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func dockerClient() (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("cannot set up Docker client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("the Docker Engine must be running for this test (is dockerd up and %s reachable?): %w",
			cli.DaemonHost(), err)
	}
	return cli, nil
}

// testappBinary compiles testapp once per process and keeps it in memory,
// so no temp dir outlives the process.
var testappBinary = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "labfleet-testapp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./internal/labtest/testapp")
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build testapp: %v\n%s", err, b)
	}
	return os.ReadFile(out)
})

type imageBuild struct {
	once sync.Once
	ref  string
	err  error
}

var (
	imagesMu sync.Mutex
	images   = map[ImageOptions]*imageBuild{}
)

// BuildImage builds (once per process per option set) a FROM scratch image
// running testapp and returns its reference, e.g.
// "labfleet-test/web:v1-healthy-0123456789ab" ("-hc" follows the mode when
// DockerHealthcheck is set). The tag ends in a hash of the
// binary and the Dockerfile, so re-runs and concurrent test processes reuse
// one image; an image already in the engine is not rebuilt. Images are left
// in place: other test processes may be using them, and they are a few MB.
func BuildImage(t testing.TB, o ImageOptions) string {
	t.Helper()
	RequireReal(t, "the Docker Engine")
	if o.Version == "" {
		o.Version = "v1"
	}
	if o.Mode == "" {
		o.Mode = ModeHealthy
	}
	if !versionRE.MatchString(o.Version) {
		t.Fatalf("labtest.BuildImage: version %q is not usable in an image tag", o.Version)
	}
	switch o.Mode {
	case ModeHealthy, ModeNeverHealthy, ModeExit, ModeSlowStart:
	default:
		t.Fatalf("labtest.BuildImage: unknown mode %q", o.Mode)
	}

	imagesMu.Lock()
	b, ok := images[o]
	if !ok {
		b = &imageBuild{}
		images[o] = b
	}
	imagesMu.Unlock()

	// No t.Fatal inside Do: a Goexit there would mark the build done
	// without a result.
	b.once.Do(func() {
		bin, err := testappBinary()
		if err != nil {
			b.err = err
			return
		}
		cli, err := dockerClient()
		if err != nil {
			b.err = err
			return
		}
		defer cli.Close()
		b.ref, b.err = buildImage(cli, bin, o)
	})
	if b.err != nil {
		t.Fatalf("cannot build test image %+v: %v", o, b.err)
	}
	return b.ref
}

// dockerfile is the recipe for one variant; it is part of the tag's hash.
func dockerfile(o ImageOptions) string {
	var d strings.Builder
	d.WriteString("FROM scratch\n")
	d.WriteString("COPY app /app\n")
	fmt.Fprintf(&d, "ENV VERSION=%q MODE=%q PORT=\"8000\"\n", o.Version, o.Mode)
	fmt.Fprintf(&d, "LABEL %s=\"1\"\n", TestLabel)
	d.WriteString("EXPOSE 8000\n")
	if o.DockerHealthcheck {
		d.WriteString(`HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["/app","-healthcheck","http://127.0.0.1:8000/healthz"]` + "\n")
	}
	d.WriteString(`ENTRYPOINT ["/app"]` + "\n")
	return d.String()
}

// imageRef is the deterministic tag of a variant.
func imageRef(bin []byte, o ImageOptions, df string) string {
	h := sha256.New()
	h.Write(bin)
	h.Write([]byte{0})
	h.Write([]byte(df))
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	hc := ""
	if o.DockerHealthcheck {
		hc = "-hc"
	}
	return fmt.Sprintf("%s:%s-%s%s-%s", ImageRepo, o.Version, o.Mode, hc, sum)
}

// buildImage builds the variant unless the engine already has its tag.
// Two processes building the same tag at once is harmless: both builds
// succeed with the same content, the tag ends up on one of them and the
// other is left as a dangling image labelled labfleet.test=1.
func buildImage(cli *client.Client, bin []byte, o ImageOptions) (string, error) {
	df := dockerfile(o)
	ref := imageRef(bin, o, df)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	}
	return ref, buildTagged(ctx, cli, ref, df, bin)
}

// buildTagged runs one build with the classic builder (BuildKit over the
// API needs a session; the classic builder is all Debian's engine offers by
// default anyway) and reads its output to the end, where errors arrive.
func buildTagged(ctx context.Context, cli *client.Client, ref, df string, bin []byte) error {
	buildCtx, err := tarContext(df, bin)
	if err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("docker build %s: %w", ref, err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, &out, 0, false, nil); err != nil {
		return fmt.Errorf("docker build %s: %w\n%s", ref, err, out.String())
	}
	return nil
}

// tarContext makes the in-memory build context. Files get a fixed mtime so
// identical contexts look identical to the engine's build cache.
func tarContext(df string, bin []byte) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(df)}, {"app", 0o755, bin}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}
