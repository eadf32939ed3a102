package pluginkit

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// ErrRange marks a threshold that is not a valid range.
var ErrRange = errors.New("invalid range")

// Range is a monitoring-plugins threshold range, [@]start:end, inclusive at
// both ends. Start defaults to 0 and may be -Inf ("~"); an empty end is
// +Inf. Without '@' a value alerts when it lies outside start..end; with
// '@' when it lies inside. The zero Range is 0:0 (alerts on anything but 0).
//
// nagiosplugin.ParseRange panics on "" and accepts trailing junk, so the
// plugins use this implementation instead; its semantics are those of
// monitoring-plugins' parse_range_string and check_range.
type Range struct {
	Start, End float64
	// Inside is the '@' form: alert when start <= value <= end.
	Inside bool
	text   string
}

// number is what strtod accepts in monitoring-plugins thresholds, without
// the hex, inf and nan forms nobody means in a threshold.
var number = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// ParseRange parses a range such as "10", "10:", "~:10", "10:20" or
// "@10:20". It never panics; a malformed range returns an error wrapping
// ErrRange that names what is wrong.
func ParseRange(s string) (Range, error) {
	text := strings.TrimSpace(s)
	r := Range{End: math.Inf(1), text: text}
	body := text
	if strings.HasPrefix(body, "@") {
		r.Inside = true
		body = body[1:]
	}
	if body == "" {
		return Range{}, fmt.Errorf("%w %q: empty range (want [@]start:end, e.g. 10, 10:, ~:10, 10:20, @10:20)", ErrRange, s)
	}
	start, end, hasColon := strings.Cut(body, ":")
	if !hasColon {
		start, end = "", body
	}
	if hasColon && start == "" && end == "" {
		return Range{}, fmt.Errorf("%w %q: neither start nor end given", ErrRange, s)
	}
	switch start {
	case "":
	case "~":
		r.Start = math.Inf(-1)
	default:
		v, err := parseNumber(start)
		if err != nil {
			return Range{}, fmt.Errorf("%w %q: start: %v", ErrRange, s, err)
		}
		r.Start = v
	}
	if end != "" {
		v, err := parseNumber(end)
		if err != nil {
			return Range{}, fmt.Errorf("%w %q: end: %v", ErrRange, s, err)
		}
		r.End = v
	}
	if r.Start > r.End {
		return Range{}, fmt.Errorf("%w %q: start %s is greater than end %s", ErrRange, s, FormatFloat(r.Start), FormatFloat(r.End))
	}
	return r, nil
}

func parseNumber(s string) (float64, error) {
	if !number.MatchString(s) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return v, nil
}

// MustRange parses a range known to be valid, such as a flag default.
func MustRange(s string) Range {
	r, err := ParseRange(s)
	if err != nil {
		panic(err)
	}
	return r
}

// Alert reports whether value should raise an alert under r. NaN, a value
// that is not known, always alerts.
func (r Range) Alert(value float64) bool {
	if math.IsNaN(value) {
		return true
	}
	in := r.Start <= value && value <= r.End
	return in == r.Inside
}

// String returns the range as it was given (trimmed), which is also how
// perfdata carries it; a Range built in code is rendered canonically.
func (r Range) String() string {
	if r.text != "" {
		return r.text
	}
	var b strings.Builder
	if r.Inside {
		b.WriteByte('@')
	}
	switch {
	case math.IsInf(r.Start, -1):
		b.WriteString("~:")
	case r.Start != 0:
		b.WriteString(FormatFloat(r.Start) + ":")
	case math.IsInf(r.End, 1):
		b.WriteString("0:")
	}
	if !math.IsInf(r.End, 1) {
		b.WriteString(FormatFloat(r.End))
	}
	return b.String()
}

// Evaluate returns CRITICAL when crit alerts on value, else WARNING when
// warn does, else OK. A nil range never alerts.
func Evaluate(value float64, warn, crit *Range) Status {
	switch {
	case crit != nil && crit.Alert(value):
		return CRITICAL
	case warn != nil && warn.Alert(value):
		return WARNING
	}
	return OK
}

// RangeValue is a threshold option (a pflag.Value); it is unset (nil) until
// given, unless it has a default.
type RangeValue struct {
	r *Range
}

// NewRangeValue returns an option value holding def ("" for none).
func NewRangeValue(def string) *RangeValue {
	v := &RangeValue{}
	if def != "" {
		r := MustRange(def)
		v.r = &r
	}
	return v
}

// Set parses a range given on the command line.
func (v *RangeValue) Set(s string) error {
	r, err := ParseRange(s)
	if err != nil {
		return err
	}
	v.r = &r
	return nil
}

// String returns the range, or "" when none is set.
func (v *RangeValue) String() string {
	if v == nil || v.r == nil {
		return ""
	}
	return v.r.String()
}

// Type names the value in --help.
func (v *RangeValue) Type() string { return "range" }

// Range returns the range, or nil when none is set.
func (v *RangeValue) Range() *Range { return v.r }
