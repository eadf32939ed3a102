package service

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/docker"
	"github.com/labfleet/labfleet/agent/nodestats"
	"github.com/labfleet/labfleet/internal/mariadb"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func TestGetInfo_CapabilitiesAreWhatThisAgentServes(t *testing.T) {
	store, err := deploy.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := mariadb.Open(closedAddr(t), "labagent", "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cases := []struct {
		name string
		set  func(s *Service)
		want []string
	}{
		{"bare", func(*Service) {}, []string{"info"}},
		{"stats", func(s *Service) { s.Stats = &nodestats.Collector{} }, []string{"info", "node-stats"}},
		{"deploys", func(s *Service) {
			s.Deploys = deploy.New(newFakeRuntime(), store, "node1", "127.0.0.1", slog.New(slog.DiscardHandler))
		}, []string{"info", "deploy"}},
		{"replication", func(s *Service) { s.MariaDB = db }, []string{"info", "replication"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := New("node1", "", nil, nil)
			c.set(svc)
			r, err := serve(t, svc).GetInfo(context.Background(), &agentv1.GetInfoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.GetCapabilities(), c.want) {
				t.Errorf("capabilities = %q, want %q", r.GetCapabilities(), c.want)
			}
		})
	}
}

func TestGetNodeStats_WithoutStatsIsUnimplemented(t *testing.T) {
	_, err := serve(t, New("node1", "", nil, nil)).GetNodeStats(context.Background(), &agentv1.GetNodeStatsRequest{})
	wantCode(t, "GetNodeStats without a collector", err, codes.Unimplemented, "collects no node stats")
}

// hungSocket is a unix socket that accepts connections and never answers,
// as a wedged dockerd or MariaDB does.
func hungSocket(t *testing.T, network string) net.Listener {
	t.Helper()
	var l net.Listener
	var err error
	if network == "unix" {
		dir, derr := os.MkdirTemp("", "lfhung-")
		if derr != nil {
			t.Fatal(derr)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		l, err = net.Listen("unix", filepath.Join(dir, "docker.sock"))
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
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
			go io.Copy(io.Discard, c)
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
	return l
}

// GetInfo answers "Docker unreachable" within its own timeout while the
// engine hangs, even when another call (the repair loop's) is stuck on it:
// before, that call held the client's API-version negotiation and GetInfo
// waited behind it for good.
func TestGetInfo_AnswersWhileTheEngineAndMariaDBHang(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_API_VERSION", "")
	sock := hungSocket(t, "unix").Addr().String()
	engine, err := docker.New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	db, err := mariadb.Open(hungSocket(t, "tcp").Addr().String(), "labagent", "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	go engine.List(context.Background(), map[string]string{deploy.LabelNode: "node1"}) // stuck for its own 30s
	time.Sleep(200 * time.Millisecond)

	svc := New("node1", "", engine, nil)
	svc.MariaDB = db
	c := serve(t, svc)
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		r, err := c.GetInfo(ctx, &agentv1.GetInfoRequest{})
		cancel()
		if err != nil {
			t.Fatalf("GetInfo %d with a hung engine: %v", i, err)
		}
		if d := r.GetDocker(); d.GetReachable() || !strings.HasPrefix(d.GetError(), "Docker unreachable: ") ||
			!strings.Contains(d.GetError(), sock) || !strings.Contains(d.GetError(), "did not answer within") {
			t.Errorf("GetInfo %d: docker = %v; want unreachable, naming the socket and the wait", i, d)
		}
		if m := r.GetMariadb(); m.GetReachable() || m.GetError() == "" {
			t.Errorf("GetInfo %d: mariadb = %v; want unreachable", i, m)
		}
	}
}
