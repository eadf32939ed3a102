package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/policy"
)

// checkPolicy asks the host policy whether r may run on this node. It
// adds the engine socket the agent uses to the paths never mounted, and
// lists this node's containers only when r joins another container's
// network.
func (s *Service) checkPolicy(ctx context.Context, r deploy.Request) error {
	p := s.Policy
	if e, ok := s.Engine.(engineSocket); ok && e.Socket() != "" {
		p.EngineSockets = append(slices.Clip(p.EngineSockets), e.Socket())
	}
	pr := policy.Request{NetworkMode: r.Spec.NetworkMode, Node: s.NodeName}
	for _, m := range r.Spec.Mounts {
		pr.Mounts = append(pr.Mounts, policy.Mount{Source: m.Source, Volume: m.Volume})
	}
	if strings.HasPrefix(pr.NetworkMode, policy.ContainerNetworkPrefix) {
		cs, err := s.nodeContainers(ctx)
		if err != nil {
			return fmt.Errorf("cannot check network_mode %s against this node's containers: %w", pr.NetworkMode, err)
		}
		pr.Containers = cs
	}
	return policy.Check(p, pr)
}

// nodeContainers lists the containers labfleet runs for this node.
func (s *Service) nodeContainers(ctx context.Context) ([]policy.Container, error) {
	if s.Containers == nil {
		return nil, fmt.Errorf("%w: this agent cannot list containers", deploy.ErrUnavailable)
	}
	cs, err := s.Containers.List(ctx, map[string]string{deploy.LabelNode: s.NodeName})
	if err != nil {
		return nil, err
	}
	out := make([]policy.Container, 0, len(cs))
	for _, c := range cs {
		out = append(out, policy.Container{ID: c.ID, Name: c.Name, NetworkMode: c.NetworkMode})
	}
	return out, nil
}
