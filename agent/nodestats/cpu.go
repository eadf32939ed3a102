package nodestats

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// readLoad parses the first three fields of loadavg.
func (c *Collector) readLoad() (load1, load5, load15 float64, err error) {
	path := c.procPath("loadavg")
	b, err := readProcFile(path)
	if err != nil {
		return 0, 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return 0, 0, 0, fmt.Errorf("cannot parse %s: want at least 3 fields, got %q", path, strings.TrimSpace(string(b)))
	}
	var loads [3]float64
	for i := range loads {
		if loads[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return 0, 0, 0, fmt.Errorf("cannot parse %s: field %d: %w", path, i+1, err)
		}
	}
	return loads[0], loads[1], loads[2], nil
}

// readCPUCount counts the "processor" entries in cpuinfo, which lists the
// CPUs online on the host. runtime.NumCPU is only the fallback because it
// reports this process's affinity mask, not the node.
func (c *Collector) readCPUCount() (int, error) {
	path := c.procPath("cpuinfo")
	b, err := readProcFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, _, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "processor" {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	if n == 0 {
		// Some architectures (s390x) format cpuinfo differently.
		n = runtime.NumCPU()
	}
	return n, nil
}
