package nodestats

import "golang.org/x/sys/unix"

// sysStatfs is the default Collector.Statfs. Block counts are in units of
// f_frsize, which is what df multiplies by; f_bsize is only the preferred I/O
// size, though on most Linux filesystems the two are equal.
func sysStatfs(path string) (Fs, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Fs{}, err
	}
	bsize := int64(st.Frsize)
	if bsize <= 0 {
		bsize = int64(st.Bsize)
	}
	return Fs{
		Blocks: st.Blocks, Bfree: st.Bfree, Bavail: st.Bavail,
		Files: st.Files, Ffree: st.Ffree, Bsize: bsize,
	}, nil
}
