// Package service implements labfleet.agent.v1.AgentService. Each handler
// is thin: it converts between protobuf messages and the domain packages
// (docker, nodestats, ...) and maps their errors to gRPC codes in one place.
package service

import (
	"context"
	"os"
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

// Service is the AgentService implementation.
type Service struct {
	agentv1.UnimplementedAgentServiceServer

	NodeName  string
	PublishIP string
	Engine    EngineInfo
	Stats     *nodestats.Collector
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
	return &Service{NodeName: node, PublishIP: publishIP, Engine: engine, Stats: stats, started: time.Now()}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Capabilities lists what this agent build serves, for GetInfo.
var Capabilities = []string{"info", "node-stats", "deploy", "replication"}

// GetInfo reports the agent, its node and the reachability of the engine.
// An unreachable engine is reported, not returned as an error: the agent is
// up and the caller wants to know what it can and cannot do.
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
		Capabilities: Capabilities,
		PublishIp:    s.PublishIP,
		Caller:       identity.From(ctx),
	}
	if s.Engine != nil {
		ectx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		v, api, err := s.Engine.Version(ectx)
		if err != nil {
			resp.Docker.Error = err.Error()
		} else {
			resp.Docker.Reachable, resp.Docker.Version, resp.Docker.ApiVersion = true, v, api
		}
	} else {
		resp.Docker.Error = "no Docker Engine configured"
	}
	if s.MariaDB != nil {
		resp.Mariadb.Configured, resp.Mariadb.Address = true, s.MariaDB.Addr()
		mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if v, err := s.MariaDB.Ping(mctx); err != nil {
			resp.Mariadb.Error = err.Error()
		} else {
			resp.Mariadb.Reachable, resp.Mariadb.Version = true, v
		}
	}
	return resp, nil
}
