package checks_test

import (
	"testing"

	"github.com/labfleet/labfleet/internal/labtest"
	pt "github.com/labfleet/labfleet/plugins/internal/plugintest"
)

func TestCheckNode(t *testing.T) {
	t.Parallel()
	a := labtest.StartAgent(t, labtest.AgentOptions{Name: "node1"})
	// Load, memory and disk use are this machine's: measured values,
	// sizes and the root filesystem's type are normalised.
	norm := []pt.Norm{
		pt.Volatile("load1_per_cpu", "load5_per_cpu", "load15_per_cpu", "cpus", "mem_used", "disk /"),
		pt.Regexp(`'mem_used_bytes'=\S*`, "'mem_used_bytes'=N"),
		pt.Regexp(`load [0-9.]+/[0-9.]+/[0-9.]+ on [0-9]+ CPUs?`, "load N/N/N on N CPUs"),
		pt.Regexp(`[0-9.]+% used \([0-9.]+[KMGTPE]?i?B of [0-9.]+[KMGTPE]?i?B(, [a-z0-9]+)?\)`, "N% used (SIZE of SIZE${1})"),
		pt.Regexp(`(disk / |memory )[0-9.]+%`, "${1}N%"),
		pt.Regexp(`, [a-z0-9]+\)`, ", FSTYPE)"),
	}
	// Thresholds no machine reaches, so OK does not depend on the host.
	calm := []string{"--load-warning", "1000", "--load-critical", "1000", "--mem-warning", "100", "--mem-critical", "100",
		"--disk-warning", "100", "--disk-critical", "100", "--mount", "/"}
	run := func(t *testing.T, extra ...string) pt.Result {
		t.Helper()
		return pt.Run(t, nil, "check_node", agentArgs(t, a, append([]string{"--insecure"}, extra...)...)...)
	}

	t.Run("OK", func(t *testing.T) {
		r := run(t, calm...)
		r.Want(t, 0, "NODE OK: load ", "'load1_per_cpu'=", ";1000;1000;0", "'mem_used'=", "%;100;100;0;100", "'disk /'=")
		pt.Golden(t, "node_ok", r, norm...)
	})
	t.Run("OK_EveryFilesystem", func(t *testing.T) {
		r := run(t, calm[:len(calm)-2]...)
		r.Want(t, 0, "NODE OK: load ", "'disk /'=")
	})
	t.Run("WARNING_Memory", func(t *testing.T) {
		r := run(t, append(calm, "--mem-warning", "0")...)
		r.Want(t, 1, "NODE WARNING: memory ", "(breaches --mem-warning 0)", "'mem_used'=")
		pt.Golden(t, "node_warning_memory", r, norm...)
	})
	t.Run("CRITICAL_Disk", func(t *testing.T) {
		r := run(t, append(calm, "--disk-warning", "~:0", "--disk-critical", "@0:100")...)
		r.Want(t, 2, "NODE CRITICAL: disk / ", "(breaches --disk-critical @0:100)", "%;~:0;@0:100;0;100")
		pt.Golden(t, "node_critical_disk", r, norm...)
	})
	t.Run("CRITICAL_NoSuchMount", func(t *testing.T) {
		r := run(t, "--mount", "/no/such/mount")
		r.Want(t, 2, "NODE CRITICAL: cannot report disk /no/such/mount")
	})
	t.Run("UNKNOWN_BadRange", func(t *testing.T) {
		r := run(t, "--load-warning", "5:1")
		r.Want(t, 3)
		pt.Golden(t, "node_unknown_range", r)
	})
}
