package checks

import (
	"testing"
	"time"
)

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		cmp  int
		ok   bool
	}{
		{"v1.2.0", "v1.2.0", 0, true},
		{"v1.2.0", "1.2", 0, true},
		{"v1.10.0", "v1.9.3", 1, true},
		{"v0.9.0", "v1.0.0", -1, true},
		{"v1.0.0-rc.1", "v1.0.0", -1, true},
		{"v1.0.0", "v1.0.0-rc.1", 1, true},
		{"v1.0.0-rc.2", "v1.0.0-rc.1", 1, true},
		{"v0.0.0-20260101120000-0123456789ab+dirty", "v0.1.0", -1, true},
		{"v1.2.3+build", "v1.2.3", 0, true},
		{"dev", "v1.0.0", 0, false},
		{"dev-0123456789ab", "v1.0.0", 0, false},
		{"v1.0.0", "latest", 0, false},
	} {
		cmp, ok := compareVersions(tc.a, tc.b)
		if cmp != tc.cmp || ok != tc.ok {
			t.Errorf("compareVersions(%q, %q) = %d, %v; want %d, %v", tc.a, tc.b, cmp, ok, tc.cmp, tc.ok)
		}
	}
}

func TestHuman(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{1500 * time.Microsecond, "2ms"}, {3210 * time.Millisecond, "3.2s"}, {5*time.Minute + 10*time.Second, "5m10s"},
		{3*time.Hour + 4*time.Minute + 5*time.Second, "3h4m"}, {51 * time.Hour, "2d3h"},
	} {
		if got := human(tc.d); got != tc.want {
			t.Errorf("human(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestSameDigest(t *testing.T) {
	d := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if !sameDigest(d, d) || !sameDigest(d, "registry:5000/web@"+d) || !sameDigest("web@"+d, " "+d) || sameDigest("", "") || sameDigest(d, "sha256:0") {
		t.Error("sameDigest gets an exact, a reference or an empty digest wrong")
	}
}
