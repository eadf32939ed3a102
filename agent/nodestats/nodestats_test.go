package nodestats_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/agent/nodestats"
)

// fakeStatfs answers statfs from a table and fails for any other path, so a
// test notices when the collector stats a filesystem it should have skipped.
func fakeStatfs(table map[string]nodestats.Fs) func(string) (nodestats.Fs, error) {
	return func(path string) (nodestats.Fs, error) {
		st, ok := table[path]
		if !ok {
			return nodestats.Fs{}, fmt.Errorf("fake statfs: unexpected path %q", path)
		}
		return st, nil
	}
}

// hostFs is the statfs view of testdata/host.
var hostFs = map[string]nodestats.Fs{
	"/":               {Blocks: 24000000, Bfree: 10000000, Bavail: 8800000, Files: 6000000, Ffree: 5000000, Bsize: 4096},
	"/var/lib/docker": {Blocks: 24000000, Bfree: 10000000, Bavail: 8800000, Files: 6000000, Ffree: 5000000, Bsize: 4096},
	"/boot/efi":       {Blocks: 130812, Bfree: 117000, Bavail: 117000, Bsize: 4096},
	"/home":           {Blocks: 50000000, Bfree: 40000000, Bavail: 37500000, Files: 12500000, Ffree: 12400000, Bsize: 4096},
	"/srv/lab data":   {Blocks: 1000000, Bfree: 250000, Bavail: 250000, Files: 500000, Ffree: 499000, Bsize: 4096},
	"/run":            {Blocks: 407851, Bfree: 407000, Bavail: 407000, Files: 2039320, Ffree: 2038000, Bsize: 4096},
}

// Golden disks for testdata/host, worked out by hand from hostFs.
var (
	diskRoot = nodestats.Disk{Mount: "/", Device: "/dev/sda2", FSType: "ext4",
		TotalBytes: 98304000000, UsedBytes: 57344000000, AvailableBytes: 36044800000,
		InodesTotal: 6000000, InodesUsed: 1000000}
	diskEFI = nodestats.Disk{Mount: "/boot/efi", Device: "/dev/sda1", FSType: "vfat",
		TotalBytes: 535805952, UsedBytes: 56573952, AvailableBytes: 479232000}
	diskHome = nodestats.Disk{Mount: "/home", Device: "/dev/mapper/vg0-home", FSType: "ext4",
		TotalBytes: 204800000000, UsedBytes: 40960000000, AvailableBytes: 153600000000,
		InodesTotal: 12500000, InodesUsed: 100000}
	diskLab = nodestats.Disk{Mount: "/srv/lab data", Device: "/dev/sdb1", FSType: "xfs",
		TotalBytes: 4096000000, UsedBytes: 3072000000, AvailableBytes: 1024000000,
		InodesTotal: 500000, InodesUsed: 1000}
)

func collect(t *testing.T, c *nodestats.Collector, mounts ...string) *nodestats.Stats {
	t.Helper()
	s, err := c.Collect(context.Background(), mounts)
	if err != nil {
		t.Fatalf("Collect(%q): %v", mounts, err)
	}
	if s.CollectedAt.IsZero() {
		t.Errorf("CollectedAt is zero")
	}
	s.CollectedAt = time.Time{}
	return s
}

func checkStats(t *testing.T, got, want *nodestats.Stats) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats differ\n got: %+v\nwant: %+v", *got, *want)
		for i := 0; i < len(got.Disks) || i < len(want.Disks); i++ {
			var g, w nodestats.Disk
			if i < len(got.Disks) {
				g = got.Disks[i]
			}
			if i < len(want.Disks) {
				w = want.Disks[i]
			}
			if g != w {
				t.Errorf("disk %d\n got: %+v\nwant: %+v", i, g, w)
			}
		}
	}
}

func TestCollect_FixtureHostReportsLocalDisksOnce(t *testing.T) {
	c := &nodestats.Collector{ProcRoot: "testdata/host", Statfs: fakeStatfs(hostFs)}
	got := collect(t, c)
	checkStats(t, got, &nodestats.Stats{
		Load1: 0.52, Load5: 1.07, Load15: 1.25,
		CPUCount: 4,
		Memory: nodestats.Memory{
			TotalBytes: 16705568768, AvailableBytes: 10113581056, UsedBytes: 6591987712,
			SwapTotalBytes: 2147479552, SwapFreeBytes: 2048000000,
		},
		// Sorted by mount; /var/lib/docker and /srv/lab data/backups are the
		// same devices as / and /srv/lab data; squashfs, overlay, tmpfs, nfs4,
		// fuse.lxcfs and the kernel filesystems are left out.
		Disks: []nodestats.Disk{diskRoot, diskEFI, diskHome, diskLab},
	})
}

func TestCollect_RequestedMountsKeepOrder(t *testing.T) {
	c := &nodestats.Collector{ProcRoot: "testdata/host", Statfs: fakeStatfs(hostFs)}
	// Asked for by name, a bind mount and a tmpfs are reported too, and
	// trailing slashes do not matter.
	got := collect(t, c, "/srv/lab data", "/", "/var/lib/docker/", "/run")
	dockerDisk := diskRoot
	dockerDisk.Mount = "/var/lib/docker"
	run := nodestats.Disk{Mount: "/run", Device: "tmpfs", FSType: "tmpfs",
		TotalBytes: 1670557696, UsedBytes: 3485696, AvailableBytes: 1667072000,
		InodesTotal: 2039320, InodesUsed: 1320}
	want := []nodestats.Disk{diskLab, diskRoot, dockerDisk, run}
	if !reflect.DeepEqual(got.Disks, want) {
		t.Errorf("disks\n got: %+v\nwant: %+v", got.Disks, want)
	}
}

func TestCollect_RequestedMountThatIsNotAMountPoint(t *testing.T) {
	c := &nodestats.Collector{ProcRoot: "testdata/host", Statfs: fakeStatfs(hostFs)}
	_, err := c.Collect(context.Background(), []string{"/", "/srv/lab"})
	if !errors.Is(err, nodestats.ErrNoSuchMount) {
		t.Fatalf("err = %v, want ErrNoSuchMount", err)
	}
	for _, want := range []string{"/srv/lab:", "not a mount point", "testdata/host/self/mounts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestCollect_FallsBackToProcMountsAndNumCPU(t *testing.T) {
	c := &nodestats.Collector{ProcRoot: "testdata/no-self", Statfs: fakeStatfs(map[string]nodestats.Fs{
		"/": {Blocks: 100, Bfree: 40, Bavail: 30, Files: 10, Ffree: 4, Bsize: 1024},
	})}
	got := collect(t, c)
	checkStats(t, got, &nodestats.Stats{
		Load1: 0, Load5: 0.01, Load15: 0.05,
		// s390x cpuinfo has no "processor : N" lines.
		CPUCount: runtime.NumCPU(),
		Memory:   nodestats.Memory{TotalBytes: 2097152000, AvailableBytes: 1048576000, UsedBytes: 1048576000},
		Disks: []nodestats.Disk{{Mount: "/", Device: "/dev/dasda1", FSType: "ext4",
			TotalBytes: 102400, UsedBytes: 61440, AvailableBytes: 30720, InodesTotal: 10, InodesUsed: 6}},
	})
}

// copyTree copies testdata/host into a temp dir so a test can break one file.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestCollect_ErrorsNameTheFile(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		data  string // "" removes the file
		want  string
		isErr error
	}{
		{"missing meminfo", "meminfo", "", "cannot read %s/meminfo: no such file or directory", fs.ErrNotExist},
		{"missing loadavg", "loadavg", "", "cannot read %s/loadavg: no such file or directory", fs.ErrNotExist},
		{"short loadavg", "loadavg", "0.1 0.2\n", "cannot parse %s/loadavg: want at least 3 fields", nil},
		{"garbage loadavg", "loadavg", "0.1 x 0.3 1/2 3\n", "cannot parse %s/loadavg: field 2:", nil},
		{"no MemAvailable", "meminfo", "MemTotal: 100 kB\n", "cannot parse %s/meminfo: no MemAvailable line", nil},
		{"bad meminfo value", "meminfo", "MemTotal: lots kB\n", "cannot parse %s/meminfo: MemTotal:", nil},
		{"bad mounts", "self/mounts", "/dev/sda1 /\n", "cannot parse %s/self/mounts: line 1:", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyTree(t, "testdata/host")
			path := filepath.Join(root, tt.file)
			if tt.data == "" {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			c := &nodestats.Collector{ProcRoot: root, Statfs: fakeStatfs(hostFs)}
			_, err := c.Collect(context.Background(), nil)
			if err == nil {
				t.Fatal("Collect succeeded")
			}
			if want := fmt.Sprintf(tt.want, root); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("err = %q, want prefix %q", err, want)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.isErr)
			}
		})
	}
}

func TestCollect_StatfsErrorNamesMount(t *testing.T) {
	boom := errors.New("input/output error")
	c := &nodestats.Collector{ProcRoot: "testdata/host", Statfs: func(string) (nodestats.Fs, error) {
		return nodestats.Fs{}, boom
	}}
	_, err := c.Collect(context.Background(), []string{"/home"})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "cannot statfs /home") {
		t.Errorf("err = %v, want it to wrap %v and name /home", err, boom)
	}
}

func TestCollect_HungStatfsHonoursContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c := &nodestats.Collector{ProcRoot: "testdata/host", Statfs: func(string) (nodestats.Fs, error) {
		<-release // a dead NFS server
		return nodestats.Fs{}, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Collect(ctx, []string{"/"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}
