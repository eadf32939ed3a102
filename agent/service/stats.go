package service

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/labfleet/labfleet/agent/nodestats"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// GetNodeStats reports load, memory and disk usage; it is what lets Nagios
// watch a node without NRPE.
func (s *Service) GetNodeStats(ctx context.Context, req *agentv1.GetNodeStatsRequest) (*agentv1.GetNodeStatsResponse, error) {
	if s.Stats == nil {
		return nil, status.Error(codes.Unimplemented, "this agent collects no node stats (node-stats is not among its GetInfo capabilities)")
	}
	st, err := s.Stats.Collect(ctx, req.GetMounts())
	if errors.Is(err, nodestats.ErrNoSuchMount) {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "cannot collect node stats: %v", err)
	}
	resp := &agentv1.GetNodeStatsResponse{
		Load1: st.Load1, Load5: st.Load5, Load15: st.Load15,
		CpuCount: uint32(st.CPUCount),
		Memory: &agentv1.MemoryStats{
			TotalBytes: st.Memory.TotalBytes, AvailableBytes: st.Memory.AvailableBytes, UsedBytes: st.Memory.UsedBytes,
			SwapTotalBytes: st.Memory.SwapTotalBytes, SwapFreeBytes: st.Memory.SwapFreeBytes,
		},
		CollectedAt: timestamppb.New(st.CollectedAt),
	}
	for _, d := range st.Disks {
		resp.Disks = append(resp.Disks, &agentv1.DiskUsage{
			Mount: d.Mount, Device: d.Device, FsType: d.FSType,
			TotalBytes: d.TotalBytes, UsedBytes: d.UsedBytes, AvailableBytes: d.AvailableBytes,
			InodesTotal: d.InodesTotal, InodesUsed: d.InodesUsed,
		})
	}
	return resp, nil
}
