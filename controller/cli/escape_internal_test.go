package cli

import (
	"bytes"
	"testing"
)

func TestEsc(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, 'quotes' \"and\" \\ backslash": "plain text, 'quotes' \"and\" \\ backslash",
		"naïve ünïcode ✓":                           "naïve ünïcode ✓",
		"a\tb\nc\rd":                                `a\tb\nc\rd`,
		"\x1b[31mred\x1b[0m":                        `\x1b[31mred\x1b[0m`,
		"\x00\x7f":                                  `\x00\x7f`,
		"C1 \u009b and RLO \u202e":                  `C1 \u009b and RLO \u202e`,
		"bad utf-8 \xff\xfe":                        `bad utf-8 \xff\xfe`,
	} {
		if got := esc(in); got != want {
			t.Errorf("esc(%q) = %q, want %q", in, got, want)
		}
	}
	if got := escLines("one\r\ntwo\x1b\n"); len(got) != 2 || got[0] != "one" || got[1] != `two\x1b` {
		t.Errorf("escLines = %q", got)
	}
}

func TestTermWriter(t *testing.T) {
	var b bytes.Buffer
	w := termWriter{&b}
	// "é" split across two writes passes intact; controls are escaped.
	for _, p := range []string{"ok \xc3", "\xa9 \x1b[2J\r", "line\n\ttab\n"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if got, want := b.String(), "ok é \\x1b[2J\\rline\n\ttab\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}
