package gtid

import (
	"testing"
)

func TestParse(t *testing.T) {
	l, err := Parse(" 2-2-7,\n0-1-11 , 0-3-4")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.String(); got != "0-1-11,0-3-4,2-2-7" {
		t.Fatalf("String() = %q", got)
	}
	if e, _ := Parse(""); len(e) != 0 {
		t.Fatalf("empty list parsed to %v", e)
	}
	for _, bad := range []string{"0-1", "a-b-c", "0-1-2-3", "-1-1-1", "0-99999999999-1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted a malformed GTID", bad)
		}
	}
}

func TestStateQueries(t *testing.T) {
	st := MustParse("0-1-11,0-2-10,1-1-5,2-2-3")
	if got := st.Domains(); len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("Domains() = %v", got)
	}
	if g, ok := st.Last(0); !ok || g.String() != "0-1-11" {
		t.Fatalf("Last(0) = %v %v", g, ok)
	}
	if st.Seq(7) != 0 {
		t.Fatal("Seq of an absent domain is not 0")
	}
	if !st.Wrote(0, 2) || st.Wrote(1, 2) {
		t.Fatalf("Wrote: %v", st.Writers(0))
	}
	if got := MustParse("0-2-10,1-1-5").With(GTID{0, 1, 11}).String(); got != "0-1-11,1-1-5" {
		t.Fatalf("With = %q", got)
	}
}

func TestMissing(t *testing.T) {
	cases := []struct {
		have, want, ranges string
		behind             uint64
	}{
		{"", "", "", 0},
		{"", "0-2-10", "0-2-1..0-2-10 (10 transactions)", 10},
		{"0-2-10", "0-2-10", "", 0},
		{"0-2-12", "0-2-10", "", 0}, // ahead is not missing
		{"0-2-10,1-1-4", "0-2-10,1-1-5,2-2-3", "1-1-5..1-1-5 (1 transaction), 2-2-1..2-2-3 (3 transactions)", 4},
	}
	for _, c := range cases {
		got := Missing(MustParse(c.have), MustParse(c.want))
		if s := Ranges(got); s != c.ranges {
			t.Errorf("Missing(%q, %q) = %q, want %q", c.have, c.want, s, c.ranges)
		}
		if b := Behind(MustParse(c.have), MustParse(c.want)); b != c.behind {
			t.Errorf("Behind(%q, %q) = %d, want %d", c.have, c.want, b, c.behind)
		}
	}
	if b := Behind(MustParse(""), MustParse("1-1-5,2-2-3"), 2); b != 3 {
		t.Errorf("Behind over domain 2 = %d, want 3", b)
	}
}
