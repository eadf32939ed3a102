// Package nodestats reads load, CPU, memory and disk facts about the node the
// agent runs on. It backs labagent's GetNodeStats RPC and is meant to back a
// Nagios check_node plugin too, so it knows nothing of gRPC or Nagios.
//
// Every host file is read through Collector.ProcRoot and every statfs call
// goes through Collector.Statfs, so tests run against fixture trees and the
// agent can read a host /proc mounted elsewhere. The package must never write
// to the host or hold state between calls: two Collect calls are independent.
package nodestats

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ErrNoSuchMount is returned (wrapped with the path) when a caller asks for a
// mount point the mount table does not list.
var ErrNoSuchMount = errors.New("not a mount point")

// Collector reads node statistics. The zero value reads the real host.
type Collector struct {
	// ProcRoot is where procfs is mounted; "" means "/proc".
	ProcRoot string
	// Statfs reports filesystem usage for a mount point; nil means the
	// statfs(2) system call.
	Statfs func(path string) (Fs, error)
}

// Stats is one snapshot of the node.
type Stats struct {
	Load1, Load5, Load15 float64
	CPUCount             int
	Memory               Memory
	Disks                []Disk
	CollectedAt          time.Time
}

// Memory is in bytes. UsedBytes is TotalBytes minus AvailableBytes, so page
// cache the kernel can drop is not counted as used.
type Memory struct {
	TotalBytes, AvailableBytes, UsedBytes uint64
	SwapTotalBytes, SwapFreeBytes         uint64
}

// Disk is the usage of one mounted filesystem, counted the way df counts it:
// UsedBytes excludes the blocks reserved for root, AvailableBytes is what an
// unprivileged user can still write, so Used+Available may be less than Total.
type Disk struct {
	Mount, Device, FSType                 string
	TotalBytes, UsedBytes, AvailableBytes uint64
	InodesTotal, InodesUsed               uint64
}

// Fs is the part of statfs(2) the collector needs. Blocks, Bfree and Bavail
// are counted in units of Bsize bytes.
type Fs struct {
	Blocks, Bfree, Bavail, Files, Ffree uint64
	Bsize                               int64
}

// Collect reads a snapshot of the node. With no mounts it reports every local,
// disk-backed filesystem once; otherwise it reports exactly the given mount
// points in the given order and fails with ErrNoSuchMount for a path that is
// not one. ctx bounds the statfs calls, which can hang on a dead network mount.
func (c *Collector) Collect(ctx context.Context, mounts []string) (*Stats, error) {
	s := &Stats{CollectedAt: time.Now()}
	var err error
	if s.Load1, s.Load5, s.Load15, err = c.readLoad(); err != nil {
		return nil, err
	}
	if s.CPUCount, err = c.readCPUCount(); err != nil {
		return nil, err
	}
	if s.Memory, err = c.readMemory(); err != nil {
		return nil, err
	}
	if s.Disks, err = c.readDisks(ctx, mounts); err != nil {
		return nil, err
	}
	return s, nil
}

func (c *Collector) procPath(name ...string) string {
	root := c.ProcRoot
	if root == "" {
		root = "/proc"
	}
	return filepath.Join(append([]string{root}, name...)...)
}

// readProcFile reads a procfs file. The error names the file once: the
// *fs.PathError from os is unwrapped so messages do not repeat the path, while
// errors.Is(err, fs.ErrNotExist) keeps working.
func readProcFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return b, nil
}
