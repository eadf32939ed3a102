package service

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/labfleet/labfleet/agent/deploy"
	"github.com/labfleet/labfleet/agent/identity"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Deploy streams a deploy's progress and ends with its result. The deploy
// itself runs to the end even if the caller disconnects. The host policy
// is checked first, for dry runs too: a refused request is answered
// PermissionDenied with nothing pulled, locked or recorded.
func (s *Service) Deploy(req *agentv1.DeployRequest, stream grpc.ServerStreamingServer[agentv1.DeployResponse]) error {
	if s.Deploys == nil {
		return notYet("container deploys (Deploy)")
	}
	ctx := stream.Context()
	r, err := deployRequest(req, identity.From(ctx))
	if err != nil {
		return err
	}
	if err := s.checkPolicy(ctx, r); err != nil {
		return toStatus(err)
	}
	res, err := s.Deploys.Deploy(ctx, r, func(ev deploy.Event) {
		_ = stream.Send(&agentv1.DeployResponse{Kind: &agentv1.DeployResponse_Event{Event: eventPB(ev)}})
	})
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&agentv1.DeployResponse{Kind: &agentv1.DeployResponse_Result{Result: resultPB(res)}})
}

// Rollback streams a rollback's progress and ends with its result.
func (s *Service) Rollback(req *agentv1.RollbackRequest, stream grpc.ServerStreamingServer[agentv1.RollbackResponse]) error {
	if s.Deploys == nil {
		return notYet("container rollbacks (Rollback)")
	}
	ctx := stream.Context()
	r := deploy.RollbackRequest{App: req.GetApp(), Version: req.GetVersion(), DeployID: req.GetDeployId(), Caller: identity.From(ctx)}
	if req.GetHealth() != nil {
		h, err := healthFromPB(req.GetHealth())
		if err != nil {
			return err
		}
		r.Health = &h
	}
	res, err := s.Deploys.Rollback(ctx, r, func(ev deploy.Event) {
		_ = stream.Send(&agentv1.RollbackResponse{Kind: &agentv1.RollbackResponse_Event{Event: eventPB(ev)}})
	})
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&agentv1.RollbackResponse{Kind: &agentv1.RollbackResponse_Result{Result: resultPB(res)}})
}

// GetApp reports one app.
func (s *Service) GetApp(ctx context.Context, req *agentv1.GetAppRequest) (*agentv1.GetAppResponse, error) {
	if s.Deploys == nil {
		return nil, notYet("app status (GetApp)")
	}
	a, err := s.Deploys.GetApp(ctx, req.GetApp())
	if err != nil {
		return nil, toStatus(err)
	}
	return &agentv1.GetAppResponse{App: s.appPB(a)}, nil
}

// ListApps reports every app on this node.
func (s *Service) ListApps(ctx context.Context, _ *agentv1.ListAppsRequest) (*agentv1.ListAppsResponse, error) {
	if s.Deploys == nil {
		return nil, notYet("app status (ListApps)")
	}
	apps, err := s.Deploys.ListApps(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &agentv1.ListAppsResponse{}
	for _, a := range apps {
		resp.Apps = append(resp.Apps, s.appPB(a))
	}
	return resp, nil
}

// GetHistory lists recorded deploys and rollbacks, newest first.
func (s *Service) GetHistory(_ context.Context, req *agentv1.GetHistoryRequest) (*agentv1.GetHistoryResponse, error) {
	if s.Deploys == nil {
		return nil, notYet("deploy history (GetHistory)")
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 50
	}
	rs, err := s.Deploys.History(req.GetApp(), limit)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &agentv1.GetHistoryResponse{}
	for _, r := range rs {
		resp.Entries = append(resp.Entries, resultPB(r))
	}
	return resp, nil
}

func deployRequest(req *agentv1.DeployRequest, caller string) (deploy.Request, error) {
	sp := req.GetSpec()
	health, err := healthFromPB(req.GetHealth())
	if err != nil {
		return deploy.Request{}, err
	}
	pull, err := fromPB(pullFromPB, req.GetPullPolicy(), "pull_policy")
	if err != nil {
		return deploy.Request{}, err
	}
	startFirst, err := fromPB(startFirstFromPB, req.GetStrategy(), "strategy")
	if err != nil {
		return deploy.Request{}, err
	}
	r := deploy.Request{
		App: req.GetApp(), Image: req.GetImage(), DeployID: req.GetDeployId(), Version: req.GetVersion(),
		Health: health, Caller: caller, StartFirst: startFirst, Pull: pull, DryRun: req.GetDryRun(),
		Spec: deploy.Spec{
			Env: sp.GetEnv(), SecretEnv: sp.GetSecretEnv(), Entrypoint: sp.GetEntrypoint(), Command: sp.GetCommand(),
			RestartPolicy: sp.GetRestartPolicy(), NetworkMode: sp.GetNetworkMode(), Labels: sp.GetLabels(),
			MemoryBytes: sp.GetMemoryBytes(), CPUs: sp.GetCpus(), StopTimeout: sp.GetStopTimeout().AsDuration(),
			User: sp.GetUser(), Workdir: sp.GetWorkdir(),
		},
	}
	for _, p := range sp.GetPorts() {
		r.Spec.Ports = append(r.Spec.Ports, deploy.Port{HostPort: int(p.GetHostPort()), ContainerPort: int(p.GetContainerPort()), Protocol: p.GetProtocol()})
	}
	for i, m := range sp.GetMounts() {
		volume, err := fromPB(volumeFromPB, m.GetType(), fmt.Sprintf("spec.mounts[%d].type", i))
		if err != nil {
			return deploy.Request{}, err
		}
		r.Spec.Mounts = append(r.Spec.Mounts, deploy.Mount{Source: m.GetSource(), Target: m.GetTarget(), ReadOnly: m.GetReadOnly(), Volume: volume})
	}
	if a := req.GetRegistryAuth(); a.GetUsername() != "" {
		r.Auth = &deploy.RegistryAuth{Username: a.GetUsername(), Password: a.GetPassword(), Server: a.GetServerAddress()}
	}
	return r, nil
}

func healthFromPB(h *agentv1.HealthCheck) (deploy.Health, error) {
	typ, err := fromPB(healthTypeFromPB, h.GetType(), "health.type")
	return deploy.Health{
		Type: typ, Path: h.GetHttpPath(), Port: int(h.GetHttpPort()),
		Timeout: h.GetTimeout().AsDuration(), Interval: h.GetInterval().AsDuration(),
	}, err
}

func eventPB(ev deploy.Event) *agentv1.DeployEvent {
	return &agentv1.DeployEvent{Time: timestamppb.New(ev.Time), Phase: phasePB[ev.Phase], Message: ev.Message,
		CurrentBytes: ev.Current, TotalBytes: ev.Total}
}

func resultPB(r deploy.Result) *agentv1.DeployResult {
	return &agentv1.DeployResult{
		DeployId: r.DeployID, App: r.App, Kind: kindPB[r.Kind], Outcome: outcomePB[r.Outcome],
		Version: r.Version, Image: r.Image, ImageDigest: r.ImageDigest, ContainerId: r.ContainerID,
		PreviousVersion: r.PreviousVersion, Message: r.Message, FailedPhase: phasePB[r.FailedPhase],
		LogTail: r.LogTail, Caller: r.Caller, StartedAt: ts(r.StartedAt), FinishedAt: ts(r.FinishedAt),
		Duration: durationpb.New(r.Duration), Replayed: r.Replayed,
	}
}

func (s *Service) appPB(a deploy.App) *agentv1.App {
	out := &agentv1.App{Name: a.Name, Node: s.NodeName, Health: healthPB[a.Health], RetainedVersions: a.RetainedVersions}
	if c := a.Container; c != nil {
		out.ContainerId, out.ContainerName, out.Image, out.ImageDigest = c.ID, c.Name, c.Image, c.Digest()
		out.Version, out.DeployId, out.State = c.Labels[deploy.LabelVersion], c.Labels[deploy.LabelDeployID], c.State
		out.RestartCount, out.StartedAt, out.LastExitCode = int32(c.RestartCount), ts(c.StartedAt), int32(c.ExitCode)
		for _, p := range c.Ports {
			out.Ports = append(out.Ports, &agentv1.PortMapping{HostPort: uint32(p.HostPort), ContainerPort: uint32(p.ContainerPort), Protocol: p.Protocol})
		}
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
