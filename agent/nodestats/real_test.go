package nodestats_test

import (
	"context"
	"os"
	"testing"

	"github.com/labfleet/labfleet/agent/nodestats"
)

// TestCollect_RealProc runs against this machine. Numbers change between
// runs, so it checks only what must hold on any Linux host.
func TestCollect_RealProc(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("no /proc on this machine")
	}
	var c nodestats.Collector
	s, err := c.Collect(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUCount < 1 {
		t.Errorf("CPUCount = %d", s.CPUCount)
	}
	if s.Load1 < 0 || s.Load5 < 0 || s.Load15 < 0 {
		t.Errorf("negative load %v %v %v", s.Load1, s.Load5, s.Load15)
	}
	m := s.Memory
	if m.TotalBytes == 0 || m.TotalBytes <= m.AvailableBytes || m.UsedBytes != m.TotalBytes-m.AvailableBytes {
		t.Errorf("memory out of whack: %+v", m)
	}
	if m.SwapFreeBytes > m.SwapTotalBytes {
		t.Errorf("more swap free than total: %+v", m)
	}

	seen := map[string]bool{}
	defaultDisks := s.Disks
	for _, d := range defaultDisks {
		t.Logf("%+v", d)
		checkDisk(t, d)
		if seen[d.Device] {
			t.Errorf("device %s reported twice", d.Device)
		}
		seen[d.Device] = true
	}

	// "/" is in the default list unless the root is a container overlay;
	// asked for by name it is always reported.
	asked, err := c.Collect(context.Background(), []string{"/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(asked.Disks) != 1 || asked.Disks[0].Mount != "/" {
		t.Fatalf("Collect(/) disks = %+v", asked.Disks)
	}
	root := asked.Disks[0]
	checkDisk(t, root)
	if root.TotalBytes == 0 {
		t.Errorf("root filesystem has no size: %+v", root)
	}
	if root.FSType != "overlay" {
		found := false
		for _, d := range defaultDisks {
			found = found || d.Mount == "/"
		}
		if !found {
			t.Errorf("root filesystem (%s) missing from the default disk list", root.FSType)
		}
	}
}

func checkDisk(t *testing.T, d nodestats.Disk) {
	t.Helper()
	if d.UsedBytes > d.TotalBytes || d.AvailableBytes > d.TotalBytes || d.InodesUsed > d.InodesTotal {
		t.Errorf("disk %s: used or available exceeds total: %+v", d.Mount, d)
	}
	if d.Mount == "" || d.Device == "" || d.FSType == "" {
		t.Errorf("disk with empty names: %+v", d)
	}
}
