package nodestats

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// readMemory parses meminfo. MemTotal and MemAvailable are required: without
// MemAvailable (kernels before 3.14) any "used" figure would be a guess, and a
// wrong number on a dashboard is worse than an error.
func (c *Collector) readMemory() (Memory, error) {
	path := c.procPath("meminfo")
	b, err := readProcFile(path)
	if err != nil {
		return Memory{}, err
	}
	want := map[string]*uint64{}
	var m Memory
	want["MemTotal"] = &m.TotalBytes
	want["MemAvailable"] = &m.AvailableBytes
	want["SwapTotal"] = &m.SwapTotalBytes
	want["SwapFree"] = &m.SwapFreeBytes
	seen := map[string]bool{}

	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		dst := want[key]
		if !ok || dst == nil {
			continue
		}
		v, err := parseKB(rest)
		if err != nil {
			return Memory{}, fmt.Errorf("cannot parse %s: %s: %w", path, key, err)
		}
		*dst = v
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		return Memory{}, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	for _, key := range []string{"MemTotal", "MemAvailable"} {
		if !seen[key] {
			return Memory{}, fmt.Errorf("cannot parse %s: no %s line", path, key)
		}
	}
	if m.AvailableBytes <= m.TotalBytes {
		m.UsedBytes = m.TotalBytes - m.AvailableBytes
	}
	return m, nil
}

// parseKB parses a meminfo value such as "  16314032 kB" into bytes. The
// kernel's "kB" means KiB.
func parseKB(s string) (uint64, error) {
	f := strings.Fields(s)
	switch {
	case len(f) == 1:
		return strconv.ParseUint(f[0], 10, 64)
	case len(f) == 2 && f[1] == "kB":
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		if v > (1<<64-1)/1024 {
			return 0, fmt.Errorf("%d kB overflows", v)
		}
		return v * 1024, nil
	default:
		return 0, fmt.Errorf("want \"<number> kB\", got %q", strings.TrimSpace(s))
	}
}
