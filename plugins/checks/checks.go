// Package checks holds labfleet's Nagios plugins, one check per file. Each
// is a pluginkit.Spec listed in All, the one place plugins are registered;
// the multi-call binary plugins/cmd/labfleet-checks runs them.
//
// Checks only read: they never change anything on an agent, a database or
// a load balancer, and never print or exit by themselves (the runtime
// does).
package checks

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/labfleet/labfleet/plugins/pluginkit"
)

// inf is the open end of a range such as "60:".
var inf = math.Inf(1)

// human renders a duration for people: 850ms, 3.2s, 5m10s, 3h4m, 2d3h.
func human(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%dh", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
}

// compareVersions compares two versions such as v1.2.3, 1.2, or
// v0.0.0-20260101-abcdef+dirty by their numeric dotted part, then by
// pre-release (a version with one sorts first, as in semver). ok is false
// when either has no leading number.
func compareVersions(a, b string) (cmp int, ok bool) {
	na, pa, oka := splitVersion(a)
	nb, pb, okb := splitVersion(b)
	if !oka || !okb {
		return 0, false
	}
	for i := range max(len(na), len(nb)) {
		x, y := at(na, i), at(nb, i)
		if x != y {
			if x < y {
				return -1, true
			}
			return 1, true
		}
	}
	switch {
	case pa == pb:
		return 0, true
	case pa == "":
		return 1, true
	case pb == "":
		return -1, true
	case pa < pb:
		return -1, true
	}
	return 1, true
}

func at(n []int, i int) int {
	if i < len(n) {
		return n[i]
	}
	return 0
}

func splitVersion(v string) (nums []int, pre string, ok bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	v, _, _ = strings.Cut(v, "+")
	core, pre, _ := strings.Cut(v, "-")
	for part := range strings.SplitSeq(core, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, "", false
		}
		nums = append(nums, n)
	}
	return nums, pre, len(nums) > 0
}

// plural returns "1 app" or "3 apps".
func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// breach names the threshold that produced state s: crit for CRITICAL,
// else warn.
func breach(s pluginkit.Status, warn, crit string) string {
	if s == pluginkit.CRITICAL {
		return crit
	}
	return warn
}

// oneLine joins a multi-line error message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
