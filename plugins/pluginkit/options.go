package pluginkit

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// RangeFlag registers a threshold option holding a range, with def as its
// default ("" for none), and returns its value.
func RangeFlag(fs *pflag.FlagSet, name, short, def, usage string) *RangeValue {
	v := NewRangeValue(def)
	fs.VarP(v, name, short, usage)
	return v
}

const rangeHelp = `Thresholds are monitoring-plugins ranges, [@]start:end, inclusive:
  10      alert when the value is below 0 or above 10
  10:     alert when below 10            ~:10   alert when above 10
  10:20   alert outside 10..20           @10:20 alert inside 10..20
Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for --help,
--version, bad options and timeouts). A target that is down is CRITICAL.
`

func helpText(spec Spec, fs *pflag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (labfleet) %s - %s\n\n", spec.Name, Version, spec.Summary)
	fmt.Fprintf(&b, "Usage: %s %s\n\n", spec.Name, spec.Usage)
	if spec.Help != "" {
		b.WriteString(strings.TrimSpace(spec.Help) + "\n\n")
	}
	b.WriteString("Options:\n")
	b.WriteString(fs.FlagUsagesWrapped(100))
	b.WriteString("\n" + rangeHelp)
	return b.String()
}
