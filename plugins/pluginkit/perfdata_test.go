package pluginkit

import (
	"math"
	"strings"
	"testing"
)

func TestFormatFloat_PlainDecimalNeverScientific(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-2.5, "-2.5"}, {0.1 + 0.2, "0.3"}, {1e21, "1000000000000000000000"},
		{1.23e-7, "0"}, {0.0000015, "0.000002"}, {25276502016, "25276502016"}, {-0.0000001, "0"},
		{math.Inf(1), "U"}, {math.NaN(), "U"},
	} {
		if got := FormatFloat(tc.v); got != tc.want {
			t.Errorf("FormatFloat(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestQuoteLabel_QuotesEscapesAndDropsWhatBreaksTheLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rtt", "'rtt'"},
		{"disk /var/lib", "'disk /var/lib'"},
		{"it's", "'it''s'"},
		{"a=b", "'a_b'"},
		{"two\nlines", "'two lines'"},
	} {
		if got := QuoteLabel(tc.in); got != tc.want {
			t.Errorf("QuoteLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPerf_StringCarriesRangeStringsAndTrimsEmptyTail(t *testing.T) {
	w, c := MustRange("60"), MustRange("300")
	lo := Range{Start: 2, End: math.Inf(1)}
	for _, tc := range []struct {
		p    Perf
		want string
	}{
		{Perf{Label: "node1_lag", Unknown: true, UOM: "s", Warn: &w, Crit: &c, Min: F(0)}, "'node1_lag'=U;60;300;0"},
		{Perf{Label: "node1_lag", Value: 3, UOM: "s", Warn: &w, Crit: &c, Min: F(0)}, "'node1_lag'=3s;60;300;0"},
		{Perf{Label: "app_up", Value: 2, Warn: &lo, Min: F(0), Max: F(3)}, "'app_up'=2;2:;;0;3"},
		{Perf{Label: "rtt", Value: 0.0012345, UOM: "s"}, "'rtt'=0.001234s"},
		{Perf{Label: "disk /", Value: 42.5, UOM: "%", Min: F(0), Max: F(100)}, "'disk /'=42.5%;;;0;100"},
		{Perf{Label: "bytes", Value: 1 << 40, UOM: "B"}, "'bytes'=1099511627776B"},
		{Perf{Label: "x", Value: math.Inf(1), UOM: "s"}, "'x'=U"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
	if got := RenderPerfdata([]Perf{{Label: "a", Value: 1}, {Label: "b", Value: 2, UOM: "c"}}); got != "'a'=1 'b'=2c" {
		t.Errorf("RenderPerfdata = %q", got)
	}
}

func TestPerf_UnknownUnitPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Invalid unit") {
			t.Errorf("recover() = %v, want a panic naming the invalid unit", r)
		}
	}()
	_ = Perf{Label: "x", Value: 1, UOM: "seconds"}.String()
}
