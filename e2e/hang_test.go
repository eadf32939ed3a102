package e2e

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/labfleet/labfleet/internal/labtest"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// hungDocker is a unix socket that accepts connections and never answers,
// as a wedged dockerd does. It returns the socket's path.
func hungDocker(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lfhung-") // a socket path must fit in 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "docker.sock")
	l, err := net.Listen("unix", path)
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
			go io.Copy(io.Discard, c) // read requests, never answer
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
	return path
}

// An engine that accepts connections and never answers must not hang the
// agent: GetInfo says "Docker unreachable" within its own timeout, again
// and again, although the repair loop started at boot is stuck on the
// engine; ListApps and Deploy end Unavailable at the engine call's
// deadline; nothing is recorded; the agent keeps serving.
func TestHang_EngineThatNeverAnswers(t *testing.T) {
	t.Parallel()
	sock := hungDocker(t)
	node := labtest.NodeName(t, "hung")
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: node, Args: []string{"--docker-host", "unix://" + sock}})
	c := a.Client(t)

	getInfo := func(i int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		info, err := c.GetInfo(ctx, &agentv1.GetInfoRequest{})
		if err != nil {
			t.Fatalf("GetInfo %d with a hung engine: %v", i, err)
		}
		if d := info.GetDocker(); d.GetReachable() || !strings.HasPrefix(d.GetError(), "Docker unreachable: ") ||
			!strings.Contains(d.GetError(), sock) || !strings.Contains(d.GetError(), "did not answer within") {
			t.Errorf("GetInfo %d: docker = %v; want unreachable, naming the socket and the wait", i, d)
		}
	}
	for i := range 3 {
		getInfo(i)
	}

	var wg sync.WaitGroup
	var listErr, deployErr error
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		_, listErr = c.ListApps(ctx, &agentv1.ListAppsRequest{})
	})
	wg.Go(func() {
		v1 := &agentv1.DeployRequest{App: "web", Image: labtest.ImageRepo + ":v1", Version: "v1",
			Health: &agentv1.HealthCheck{Type: agentv1.HealthCheckType_HEALTH_CHECK_TYPE_NONE}}
		deployErr = labtest.Deploy(t, c, v1).Err
	})
	time.Sleep(time.Second)
	getInfo(3) // while both are stuck on the engine
	wg.Wait()
	labtest.WantCode(t, "ListApps with a hung engine", listErr, codes.Unavailable, "Docker Engine at unix://"+sock, "did not answer within")
	labtest.WantCode(t, "Deploy with a hung engine", deployErr, codes.Unavailable, "Docker Engine at unix://"+sock, "did not answer within")

	if h := labtest.History(t, c, ""); len(h) != 0 {
		t.Errorf("a deploy that changed nothing was recorded: %v", labtest.HistoryIDs(h))
	}
	if a.Exited() {
		t.Fatal("the agent exited")
	}
	getInfo(4)
}
