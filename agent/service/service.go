// Package service implements labfleet.agent.v1.AgentService. Each handler
// is thin: it converts between protobuf messages and the domain packages
// (docker, nodestats, ...) and maps their errors to gRPC codes in one place.
package service

import (
	"context"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/identity"
	"github.com/labfleet/labfleet/agent/nodestats"
	"github.com/labfleet/labfleet/agent/policy"
	"github.com/labfleet/labfleet/internal/mariadb"
	"github.com/labfleet/labfleet/internal/version"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// EngineInfo reports the container engine's version. The docker package's
// Engine implements it; tests may use a fake.
type EngineInfo interface {
	Version(ctx context.Context) (engine, api string, err error)
}

// ContainerLister lists containers by label, as deploy.Runtime does; the
// host policy asks it which containers are this node's.
type ContainerLister interface {
	List(ctx context.Context, labels map[string]string) ([]deploy.Container, error)
}

// engineSocket is implemented by an engine reached over a unix socket (the
// docker package's Engine): the host policy never lets a deploy mount it.
type engineSocket interface {
	Socket() string
}

// infoTimeout bounds each check GetInfo makes (engine, database), so that
// GetInfo answers even when what it checks hangs.
const infoTimeout = 3 * time.Second

// Service is the AgentService implementation.
type Service struct {
	agentv1.UnimplementedAgentServiceServer

	NodeName  string
	PublishIP string
	Engine    EngineInfo
	// Stats collects node statistics; nil in an agent without them.
	Stats *nodestats.Collector
	// Containers lists the engine's containers for the host policy's
	// network_mode container:NAME rule; New sets it to Engine when Engine
	// can list containers.
	Containers ContainerLister
	// Deploys runs container deploys; nil in a build without them.
	Deploys *deploy.Engine
	// MariaDB is the node's database; nil when the agent was started
	// without --mariadb-addr.
	MariaDB *mariadb.Manager
	// Policy is what deploys may ask of this node (labagent's flags).
	Policy policy.Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	started time.Time
}

var _ agentv1.AgentServiceServer = (*Service)(nil)

// New returns a Service that counts its uptime from now.
func New(node, publishIP string, engine EngineInfo, stats *nodestats.Collector) *Service {
	s := &Service{NodeName: node, PublishIP: publishIP, Engine: engine, Stats: stats, started: time.Now()}
	if l, ok := engine.(ContainerLister); ok {
		s.Containers = l
	}
	return s
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// capabilities lists what this agent serves, for GetInfo: what its build
// has and its configuration enables.
func (s *Service) capabilities() []string {
	out := []string{"info"}
	if s.Stats != nil {
		out = append(out, "node-stats")
	}
	if s.Deploys != nil {
		out = append(out, "deploy")
	}
	if s.MariaDB != nil {
		out = append(out, "replication")
	}
	return out
}

// GetInfo reports the agent, its node and the reachability of the engine.
// An unreachable engine is reported, not returned as an error: the agent is
// up and the caller wants to know what it can and cannot do. The engine and
// the database are asked at the same time, each for at most infoTimeout,
// so GetInfo answers within that even when both hang.
func (s *Service) GetInfo(ctx context.Context, _ *agentv1.GetInfoRequest) (*agentv1.GetInfoResponse, error) {
	host, _ := os.Hostname()
	resp := &agentv1.GetInfoResponse{
		AgentVersion: version.String(),
		NodeName:     s.NodeName,
		Hostname:     host,
		StartedAt:    timestamppb.New(s.started),
		Uptime:       durationpb.New(s.now().Sub(s.started).Truncate(time.Second)),
		Docker:       &agentv1.DockerInfo{},
		Mariadb:      &agentv1.MariaDBInfo{},
		Capabilities: s.capabilities(),
		PublishIp:    s.PublishIP,
		Caller:       identity.From(ctx),
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.engineInfo(ctx, resp.Docker) })
	wg.Go(func() { s.mariadbInfo(ctx, resp.Mariadb) })
	wg.Wait()
	return resp, nil
}

func (s *Service) engineInfo(ctx context.Context, d *agentv1.DockerInfo) {
	if s.Engine == nil {
		d.Error = "no Docker Engine configured"
		return
	}
	ctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	v, api, err := s.Engine.Version(ctx)
	if err != nil {
		d.Error = "Docker unreachable: " + strings.TrimPrefix(err.Error(), deploy.ErrUnavailable.Error()+": ")
		return
	}
	d.Reachable, d.Version, d.ApiVersion = true, v, api
}

func (s *Service) mariadbInfo(ctx context.Context, m *agentv1.MariaDBInfo) {
	if s.MariaDB == nil {
		return
	}
	m.Configured, m.Address = true, s.MariaDB.Addr()
	ctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	v, err := s.MariaDB.Ping(ctx)
	if err != nil {
		m.Error = err.Error()
		return
	}
	m.Reachable, m.Version = true, v
}
