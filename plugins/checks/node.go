//go:build !labfleet_lean

package checks

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/labfleet/labfleet/plugins/pluginkit"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

var checkNode = pluginkit.Spec{
	Name:    "check_node",
	Label:   "NODE",
	Summary: "load per CPU, memory and disk use of a node, from its agent (no NRPE)",
	Usage:   "-H HOST [agent options] [--load-warning R] [--load-critical R] [--mem-warning R] [--mem-critical R] [--disk-warning R] [--disk-critical R] [--mount PATH]...",
	Help: `Asks the agent for GetNodeStats. The load thresholds apply to each of the 1, 5
and 15 minute load averages divided by the number of CPUs (as check_load -r
with one value); memory used is (total - available) / total, in percent;
disk used is used / (used + available), in percent, as df shows it, for each
--mount (repeatable; default: every local filesystem the agent reports).
A --mount the node does not have is CRITICAL.`,
	New: func() pluginkit.Plugin { return &nodeCheck{} },
}

type nodeCheck struct {
	agent              pluginkit.AgentFlags
	loadWarn, loadCrit *pluginkit.RangeValue
	memWarn, memCrit   *pluginkit.RangeValue
	diskWarn, diskCrit *pluginkit.RangeValue
	mounts             []string
}

func (c *nodeCheck) Flags(fs *pflag.FlagSet) {
	c.agent.Register(fs)
	c.loadWarn = pluginkit.RangeFlag(fs, "load-warning", "", "2", "WARNING `RANGE` for the load average per CPU")
	c.loadCrit = pluginkit.RangeFlag(fs, "load-critical", "", "4", "CRITICAL `RANGE` for the load average per CPU")
	c.memWarn = pluginkit.RangeFlag(fs, "mem-warning", "", "85", "WARNING `RANGE` for memory used, percent")
	c.memCrit = pluginkit.RangeFlag(fs, "mem-critical", "", "95", "CRITICAL `RANGE` for memory used, percent")
	c.diskWarn = pluginkit.RangeFlag(fs, "disk-warning", "", "85", "WARNING `RANGE` for disk used, percent")
	c.diskCrit = pluginkit.RangeFlag(fs, "disk-critical", "", "95", "CRITICAL `RANGE` for disk used, percent")
	fs.StringArrayVar(&c.mounts, "mount", nil, "check this mount `PATH` (repeatable; default: every local filesystem)")
}

func (c *nodeCheck) Run(ctx context.Context, r *pluginkit.Result) error {
	for _, m := range c.mounts {
		if m != "" && !path.IsAbs(m) {
			return pluginkit.Usagef("--mount %q: want an absolute path, e.g. / or /var/lib/docker", m)
		}
	}
	conn, err := c.agent.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	addr := c.agent.Addr()
	// An empty --mount (a config macro left blank) means every filesystem.
	mounts := slices.DeleteFunc(slices.Clone(c.mounts), func(m string) bool { return m == "" })
	r.Stage("calling GetNodeStats on the agent at %s", addr)
	st, err := conn.Agent.GetNodeStats(ctx, &agentv1.GetNodeStatsRequest{Mounts: mounts})
	if status.Code(err) == codes.NotFound {
		r.Critical("%s", status.Convert(err).Message())
		return nil
	}
	if err != nil {
		pluginkit.AgentFailure(ctx, r, conn, err)
		return nil
	}

	var parts []string
	cpus := max(float64(st.GetCpuCount()), 1)
	loadStatus := pluginkit.OK
	for _, l := range []struct {
		name string
		v    float64
	}{{"load1", st.GetLoad1()}, {"load5", st.GetLoad5()}, {"load15", st.GetLoad15()}} {
		per := l.v / cpus
		r.Perf(pluginkit.Perf{Label: l.name + "_per_cpu", Value: per, Warn: c.loadWarn.Range(), Crit: c.loadCrit.Range(), Min: pluginkit.F(0)})
		if s := pluginkit.Evaluate(per, c.loadWarn.Range(), c.loadCrit.Range()); pluginkit.Worse(s, loadStatus) {
			loadStatus = s
		}
	}
	r.Perf(pluginkit.Perf{Label: "cpus", Value: float64(st.GetCpuCount()), Min: pluginkit.F(0)})
	load := fmt.Sprintf("load %s/%s/%s on %s", f2(st.GetLoad1()), f2(st.GetLoad5()), f2(st.GetLoad15()), plural(int(st.GetCpuCount()), "CPU"))
	c.report(r, loadStatus, load, "--load-warning "+c.loadWarn.String(), "--load-critical "+c.loadCrit.String())
	parts = append(parts, load)

	m := st.GetMemory()
	if total := m.GetTotalBytes(); total > 0 {
		used := total - min(m.GetAvailableBytes(), total)
		pct := 100 * float64(used) / float64(total)
		r.Perf(pluginkit.Perf{Label: "mem_used", Value: pct, UOM: "%", Warn: c.memWarn.Range(), Crit: c.memCrit.Range(), Min: pluginkit.F(0), Max: pluginkit.F(100)})
		r.Perf(pluginkit.Perf{Label: "mem_used_bytes", Value: float64(used), UOM: "B", Min: pluginkit.F(0), Max: pluginkit.F(float64(total))})
		s := pluginkit.Evaluate(pct, c.memWarn.Range(), c.memCrit.Range())
		text := fmt.Sprintf("memory %s%% used (%s of %s)", f1(pct), bytesText(used), bytesText(total))
		c.report(r, s, text, "--mem-warning "+c.memWarn.String(), "--mem-critical "+c.memCrit.String())
		parts = append(parts, fmt.Sprintf("memory %s%%", f1(pct)))
	} else {
		r.Unknown("the agent reports no memory total")
	}

	var disks []string
	for _, d := range st.GetDisks() {
		size := d.GetUsedBytes() + d.GetAvailableBytes()
		if size == 0 {
			r.Long("disk %s (%s): empty filesystem, skipped", d.GetMount(), d.GetFsType())
			continue
		}
		pct := 100 * float64(d.GetUsedBytes()) / float64(size)
		r.Perf(pluginkit.Perf{Label: "disk " + d.GetMount(), Value: pct, UOM: "%", Warn: c.diskWarn.Range(), Crit: c.diskCrit.Range(), Min: pluginkit.F(0), Max: pluginkit.F(100)})
		s := pluginkit.Evaluate(pct, c.diskWarn.Range(), c.diskCrit.Range())
		text := fmt.Sprintf("disk %s %s%% used (%s of %s, %s)", d.GetMount(), f1(pct), bytesText(d.GetUsedBytes()), bytesText(size), d.GetFsType())
		c.report(r, s, text, "--disk-warning "+c.diskWarn.String(), "--disk-critical "+c.diskCrit.String())
		disks = append(disks, fmt.Sprintf("%s %s%%", d.GetMount(), f1(pct)))
	}
	if len(disks) > 0 {
		parts = append(parts, "disk "+strings.Join(disks, ", "))
	}
	r.OK("%s", strings.Join(parts, ", "))
	return nil
}

// report records a non-OK finding on the first line and every finding in
// the long output.
func (c *nodeCheck) report(r *pluginkit.Result, s pluginkit.Status, text, warn, crit string) {
	if s != pluginkit.OK {
		r.Add(s, "%s (breaches %s)", text, breach(s, warn, crit))
	}
	r.Long("%s: %s", s, text)
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

// bytesText renders a size with a binary unit: 512B, 3.2GiB.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
