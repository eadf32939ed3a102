package pluginkit

import (
	"errors"
	"math"
	"testing"
)

func TestParseRange_MonitoringPluginsSemantics(t *testing.T) {
	// The examples of the monitoring-plugins guidelines, value by value.
	cases := []struct {
		rng    string
		alerts []float64
		quiet  []float64
	}{
		{"10", []float64{-0.001, -5, 10.001, 11}, []float64{0, 5, 10}},
		{"10:", []float64{-1, 9.999}, []float64{10, 11, 1e9}},
		{"~:10", []float64{10.5, 11}, []float64{-1e9, -1, 0, 10}},
		{"10:20", []float64{9, 21, -1}, []float64{10, 15, 20}},
		{"@10:20", []float64{10, 15, 20}, []float64{9.99, 20.01, -1}},
		{"@10", []float64{0, 5, 10}, []float64{-1, 11}},
		{"~:", nil, []float64{-1e300, 0, 1e300}},
		{"-5:-1", []float64{0, -6}, []float64{-5, -3, -1}},
		{"1.5:2.5", []float64{1.4, 2.6}, []float64{1.5, 2, 2.5}},
		{":10", []float64{-1, 11}, []float64{0, 10}},
		{" 5 ", []float64{6}, []float64{5}},
		{"1e2", []float64{101}, []float64{100}},
		{"0", []float64{0.1, -0.1}, []float64{0}},
	}
	for _, tc := range cases {
		r, err := ParseRange(tc.rng)
		if err != nil {
			t.Errorf("ParseRange(%q): %v", tc.rng, err)
			continue
		}
		for _, v := range tc.alerts {
			if !r.Alert(v) {
				t.Errorf("range %q: %v should alert", tc.rng, v)
			}
		}
		for _, v := range tc.quiet {
			if r.Alert(v) {
				t.Errorf("range %q: %v should not alert", tc.rng, v)
			}
		}
		if !r.Alert(math.NaN()) {
			t.Errorf("range %q: NaN should alert", tc.rng)
		}
	}
}

func TestParseRange_RejectsWhatIsNotARange(t *testing.T) {
	for _, s := range []string{"", " ", "@", ":", "@:", "abc", "10:5", "@20:10", "1:2:3", "10x", "x:10", "~", "~10",
		"10:~", "inf", "nan", "0x10", "1e999", "--1", "1..2", "10,20", "10 :20", ";", "@@1", "1:@2"} {
		if r, err := ParseRange(s); err == nil {
			t.Errorf("ParseRange(%q) = %+v, want an error", s, r)
		} else if !errors.Is(err, ErrRange) {
			t.Errorf("ParseRange(%q): error %v does not wrap ErrRange", s, err)
		}
	}
}

func TestRange_StringKeepsTheGivenFormAndRendersBuiltOnes(t *testing.T) {
	for _, s := range []string{"10", "10:", "~:10", "10:20", "@10:20", "2:", "1:"} {
		if got := MustRange(s).String(); got != s {
			t.Errorf("MustRange(%q).String() = %q", s, got)
		}
	}
	for _, tc := range []struct {
		r    Range
		want string
	}{
		{Range{Start: 60, End: math.Inf(1)}, "60:"},
		{Range{End: 1}, "1"},
		{Range{Start: math.Inf(-1), End: 5}, "~:5"},
		{Range{Start: math.Inf(-1), End: math.Inf(1)}, "~:"},
		{Range{End: math.Inf(1)}, "0:"},
		{Range{Start: 1.5, End: 2, Inside: true}, "@1.5:2"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.r, got, tc.want)
		}
		back, err := ParseRange(tc.want)
		if err != nil || back.Start != tc.r.Start || back.End != tc.r.End || back.Inside != tc.r.Inside {
			t.Errorf("ParseRange(%q) = %+v, %v; want %+v", tc.want, back, err, tc.r)
		}
	}
}

func TestEvaluate_CriticalBeforeWarningNilNeverAlerts(t *testing.T) {
	w, c := MustRange("10"), MustRange("20")
	for _, tc := range []struct {
		v    float64
		want Status
	}{{5, OK}, {10, OK}, {15, WARNING}, {25, CRITICAL}, {-1, CRITICAL}} {
		if got := Evaluate(tc.v, &w, &c); got != tc.want {
			t.Errorf("Evaluate(%v, 10, 20) = %v, want %v", tc.v, got, tc.want)
		}
	}
	if got := Evaluate(1e9, nil, nil); got != OK {
		t.Errorf("Evaluate without ranges = %v, want OK", got)
	}
}

func TestRangeValue_DefaultSetAndUnset(t *testing.T) {
	v := NewRangeValue("")
	if v.Range() != nil || v.String() != "" {
		t.Errorf("empty default: %v %q", v.Range(), v.String())
	}
	if err := v.Set("@1:2"); err != nil || v.String() != "@1:2" || !v.Range().Inside {
		t.Errorf("Set(@1:2): %v, %q", err, v.String())
	}
	if err := v.Set(""); err == nil {
		t.Error("Set(\"\") should fail: an empty range is invalid")
	}
	if d := NewRangeValue("2:"); d.String() != "2:" || d.Range().Alert(2) || !d.Range().Alert(1) {
		t.Errorf("default 2:: %q", d.String())
	}
}

// FuzzParseRange checks that no input panics, and that every range the
// parser accepts is well formed, prints back to itself and keeps its
// meaning when parsed again.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10", "10:", "~:10", "10:20", "@10:20", "", "@", ":", "1e3", "-1.5:.5", "~:", "@~:0", "1:2:3"} {
		f.Add(s, 1.5)
	}
	f.Fuzz(func(t *testing.T, s string, v float64) {
		r, err := ParseRange(s)
		if err != nil {
			if !errors.Is(err, ErrRange) {
				t.Fatalf("ParseRange(%q): error %v does not wrap ErrRange", s, err)
			}
			return
		}
		if math.IsNaN(r.Start) || math.IsNaN(r.End) || r.Start > r.End || math.IsInf(r.Start, 1) || math.IsInf(r.End, -1) {
			t.Fatalf("ParseRange(%q) = %+v: malformed", s, r)
		}
		again, err := ParseRange(r.String())
		if err != nil || again.Start != r.Start || again.End != r.End || again.Inside != r.Inside {
			t.Fatalf("ParseRange(%q).String() = %q parses to %+v, %v", s, r.String(), again, err)
		}
		if !math.IsNaN(v) {
			inside := r.Start <= v && v <= r.End
			if r.Alert(v) != (inside == r.Inside) {
				t.Fatalf("range %q (%+v): Alert(%v) = %v", s, r, v, r.Alert(v))
			}
			if inv := (Range{Start: r.Start, End: r.End, Inside: !r.Inside}); inv.Alert(v) == r.Alert(v) {
				t.Fatalf("range %q: '@' does not invert Alert(%v)", s, v)
			}
		}
	})
}
