package pluginkit

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/olorin/nagiosplugin"
)

// Perf is one performance datum: 'label'=value[UOM];warn;crit;min;max.
type Perf struct {
	Label string
	Value float64
	// Unknown renders the value as "U" (e.g. a replication lag MariaDB
	// reports as NULL).
	Unknown bool
	// UOM is "", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB" or "c".
	UOM        string
	Warn, Crit *Range
	Min, Max   *float64
}

// F returns a pointer to v, for Perf.Min and Perf.Max.
func F(v float64) *float64 { return &v }

// FormatFloat renders v the way perfdata wants numbers: plain decimal, no
// exponent, at most six decimals, no trailing zeros. Infinities and NaN,
// which perfdata cannot carry, render as "U".
func FormatFloat(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "U"
	}
	s := strconv.FormatFloat(v, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// QuoteLabel quotes a perfdata label: always in single quotes, a quote
// doubled, and '=' (which no parser accepts in a label) and line breaks
// replaced, so a mount point or connection name can never break the line.
func QuoteLabel(label string) string {
	label = strings.NewReplacer("=", "_", "\n", " ", "\r", " ", "'", "''").Replace(label)
	return "'" + label + "'"
}

// String renders the datum. It panics on a UOM perfdata does not know: that
// is a bug in the check, which the runtime turns into UNKNOWN.
func (p Perf) String() string {
	value := p.Value
	if p.Unknown {
		value = 0
	}
	// nagiosplugin validates the unit (case-insensitively, as Nagios
	// does); rendering is ours, because it neither quotes labels nor takes
	// range strings for warn and crit.
	if _, err := nagiosplugin.NewPerfDatum(p.Label, p.UOM, 0); err != nil {
		panic(fmt.Sprintf("perfdata %q: %v", p.Label, err))
	}
	v := FormatFloat(value)
	if p.Unknown || v == "U" {
		v = "U"
	} else {
		v += p.UOM
	}
	fields := []string{QuoteLabel(p.Label) + "=" + v, rangeText(p.Warn), rangeText(p.Crit), floatText(p.Min), floatText(p.Max)}
	for len(fields) > 1 && fields[len(fields)-1] == "" {
		fields = fields[:len(fields)-1]
	}
	return strings.Join(fields, ";")
}

func rangeText(r *Range) string {
	if r == nil {
		return ""
	}
	return r.String()
}

func floatText(f *float64) string {
	if f == nil || math.IsInf(*f, 0) || math.IsNaN(*f) {
		return ""
	}
	return FormatFloat(*f)
}

// RenderPerfdata joins data with spaces, as the part after '|'.
func RenderPerfdata(data []Perf) string {
	parts := make([]string, len(data))
	for i, p := range data {
		parts[i] = p.String()
	}
	return strings.Join(parts, " ")
}
