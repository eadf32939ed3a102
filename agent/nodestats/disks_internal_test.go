package nodestats

import "testing"

func TestUnescapeOctal(t *testing.T) {
	tests := map[string]string{
		`/srv/lab\040data`:   "/srv/lab data",
		`/mnt/a\011b\012c`:   "/mnt/a\tb\nc",
		`/mnt/back\134slash`: `/mnt/back\slash`,
		`/plain`:             "/plain",
		`/short\04`:          `/short\04`, // not a full escape: left alone
		`/not\089octal`:      `/not\089octal`,
		`\040`:               " ",
	}
	for in, want := range tests {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}
