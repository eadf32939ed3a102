package inventory

import (
	"math/big"
	"reflect"
	"testing"
)

// These pin down the typing of INI values without needing Ansible; the
// oracle test checks many more against Ansible itself.
func TestINIValue_TypesLikePythonLiterals(t *testing.T) {
	big30, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	cases := []struct {
		in   string
		want any
	}{
		{"42", 42},
		{"-7", -7},
		{"0x1F", 31},
		{"1_000", 1000},
		{"007", "007"},
		{"1.5", 1.5},
		{"2e3", 2000.0},
		{"True", true},
		{"None", nil},
		{"true", "true"},
		{"'quoted'", "quoted"},
		{`'a' "b"`, "ab"},
		{"[1, 'two', True]", []any{1, "two", true}},
		{"1,2", []any{1, 2}},
		{"{'a': (1,), 2: None}", map[string]any{"a": []any{1}, "2": nil}},
		{"{1: 'x', True: 'y'}", map[string]any{"1": "y"}},
		{"[1,2", "[1,2"},
		{"x=y", "x=y"},
		{"10.11", 10.11},
		{"127.0.0.1", "127.0.0.1"},
		{"1 # note", 1},
		{"", ""},
		{"2j", "2j"},
		{"123456789012345678901234567890", big30},
	}
	for _, c := range cases {
		got, err := iniValue(c.in)
		if err != nil {
			t.Errorf("iniValue(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(canonical(got), canonical(c.want)) {
			t.Errorf("iniValue(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
	if _, err := iniValue("{[1]: 2}"); err == nil {
		t.Error("an unhashable dict key was accepted")
	}
}

func TestShlexSplit(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`h a=1 b="two words"`, []string{"h", "a=1", "b=two words"}},
		{`h a=b#c`, []string{"h", "a=b"}},
		{`h # all comment`, []string{"h"}},
		{`h a="#kept" b='x\y' c="q\"q" d=\#`, []string{"h", "a=#kept", `b=x\y`, `c=q"q`, "d=#"}},
		{`h ''`, []string{"h", ""}},
	}
	for _, c := range cases {
		got, err := shlexSplit(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("shlexSplit(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`h "open`, `h 'open`, `h a\`} {
		if _, err := shlexSplit(bad); err == nil {
			t.Errorf("shlexSplit(%q) accepted", bad)
		}
	}
}
