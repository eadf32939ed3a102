package nodestats

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// mountEntry is one line of the mount table.
type mountEntry struct {
	device, mount, fstype string
}

// skipFSTypes are filesystems that hold no node data (kernel interfaces,
// memory-backed scratch space, container layers, read-only images) or live on
// another host. Reporting them would flood the disk list with entries that
// are always full, always empty, or someone else's problem.
var skipFSTypes = map[string]bool{
	// kernel interfaces
	"proc": true, "sysfs": true, "cgroup": true, "cgroup2": true, "devpts": true,
	"debugfs": true, "tracefs": true, "securityfs": true, "pstore": true,
	"bpf": true, "configfs": true, "fusectl": true, "mqueue": true, "nsfs": true,
	"binfmt_misc": true, "rpc_pipefs": true, "efivarfs": true, "selinuxfs": true,
	"autofs": true, "hugetlbfs": true, "nfsd": true, "rootfs": true,
	// memory-backed
	"tmpfs": true, "devtmpfs": true, "ramfs": true,
	// container layers and images
	"overlay": true, "aufs": true, "squashfs": true, "iso9660": true,
	// network
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true,
	"ceph": true, "glusterfs": true, "9p": true, "afs": true, "lustre": true,
}

// isLocalDiskFS reports whether a filesystem of this type belongs in the
// default disk list. FUSE filesystems are skipped (sshfs, lxcfs, gvfs...)
// except fuseblk, which is a FUSE driver on a real block device (ntfs-3g).
func isLocalDiskFS(fstype string) bool {
	if fstype == "fuse" || strings.HasPrefix(fstype, "fuse.") {
		return false
	}
	return !skipFSTypes[fstype]
}

// readDisks reports the requested mounts, or the local disks if none are
// requested.
func (c *Collector) readDisks(ctx context.Context, requested []string) ([]Disk, error) {
	table, entries, err := c.readMountTable()
	if err != nil {
		return nil, err
	}
	var chosen []mountEntry
	if len(requested) == 0 {
		chosen = localDisks(entries)
	} else {
		byMount := make(map[string]mountEntry, len(entries))
		for _, e := range entries {
			// A later entry on the same point hides the earlier one.
			byMount[e.mount] = e
		}
		for _, m := range requested {
			e, ok := byMount[filepath.Clean(m)]
			if !ok {
				return nil, fmt.Errorf("cannot report disk %s: %w; see %s for the mount points", m, ErrNoSuchMount, table)
			}
			chosen = append(chosen, e)
		}
	}

	disks := make([]Disk, 0, len(chosen))
	for _, e := range chosen {
		st, err := c.statfs(ctx, e.mount)
		if err != nil {
			return nil, fmt.Errorf("cannot statfs %s: %w", e.mount, err)
		}
		d, err := diskFromFs(e, st)
		if err != nil {
			return nil, fmt.Errorf("cannot statfs %s: %w", e.mount, err)
		}
		disks = append(disks, d)
	}
	return disks, nil
}

// localDisks keeps the disk-backed filesystems and reports each device once,
// at its shortest mount point: bind mounts and btrfs subvolumes (such as
// /var/lib/docker on the root device) would otherwise count the same space
// twice. The result is sorted by mount point so "/" comes first.
func localDisks(entries []mountEntry) []mountEntry {
	byDevice := map[string]mountEntry{}
	for _, e := range entries {
		if !isLocalDiskFS(e.fstype) {
			continue
		}
		old, ok := byDevice[e.device]
		if !ok || len(e.mount) < len(old.mount) || (len(e.mount) == len(old.mount) && e.mount < old.mount) {
			byDevice[e.device] = e
		}
	}
	out := make([]mountEntry, 0, len(byDevice))
	for _, e := range byDevice {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mount < out[j].mount })
	return out
}

// readMountTable reads PROC/self/mounts, or PROC/mounts on systems where
// self is unavailable, and returns the path it read.
func (c *Collector) readMountTable() (string, []mountEntry, error) {
	path := c.procPath("self", "mounts")
	b, err := readProcFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		path = c.procPath("mounts")
		b, err = readProcFile(path)
	}
	if err != nil {
		return path, nil, err
	}
	entries, err := parseMounts(b)
	if err != nil {
		return path, nil, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	return path, entries, nil
}

// parseMounts parses the fstab-like mount table format.
func parseMounts(b []byte) ([]mountEntry, error) {
	var entries []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: want at least 3 fields, got %q", n, line)
		}
		entries = append(entries, mountEntry{
			device: unescapeOctal(f[0]),
			mount:  unescapeOctal(f[1]),
			fstype: unescapeOctal(f[2]),
		})
	}
	return entries, sc.Err()
}

// unescapeOctal decodes the \ooo escapes the kernel uses for space, tab,
// newline and backslash in mount table fields.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// diskFromFs turns statfs counts into byte counts the way df does.
func diskFromFs(e mountEntry, st Fs) (Disk, error) {
	if st.Bsize <= 0 {
		return Disk{}, fmt.Errorf("statfs reported block size %d", st.Bsize)
	}
	bs := uint64(st.Bsize)
	return Disk{
		Mount:          e.mount,
		Device:         e.device,
		FSType:         e.fstype,
		TotalBytes:     st.Blocks * bs,
		UsedBytes:      sub(st.Blocks, st.Bfree) * bs,
		AvailableBytes: st.Bavail * bs,
		InodesTotal:    st.Files,
		InodesUsed:     sub(st.Files, st.Ffree),
	}, nil
}

// sub is a-b, or 0 where a filesystem reports more free than total (some
// report 0 inodes in total and a nonzero free count).
func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// statfs calls the configured Statfs but gives up when ctx ends. A statfs on
// a dead NFS server can block forever in the kernel; the goroutine is then
// left behind until the call returns, which beats hanging the RPC.
func (c *Collector) statfs(ctx context.Context, path string) (Fs, error) {
	if err := ctx.Err(); err != nil {
		return Fs{}, err
	}
	fn := c.Statfs
	if fn == nil {
		fn = sysStatfs
	}
	type result struct {
		st  Fs
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := fn(path)
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		return r.st, r.err
	case <-ctx.Done():
		return Fs{}, ctx.Err()
	}
}
