package deploy

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MinMaskedLen is the shortest secret value the engine masks. Shorter
// values are not secrets worth the name, and masking them would garble
// every message: a secret "1" would turn "exited with code 1" into
// nonsense and tell a reader the value anyway.
const MinMaskedLen = 4

// maxLineLen caps each recorded log line (and maxMessageLen the message),
// so one chatty container cannot make a history line huge.
const (
	maxLineLen    = 4 << 10
	maxMessageLen = 16 << 10
)

// masker replaces secret values wherever they appear in text the engine
// reports: event messages, result messages, log tails and errors. It
// masks the whole value and each of its lines (a value read from a file
// may end in a newline or span lines, while log lines never do), each
// when at least MinMaskedLen bytes long, longest first so a secret that
// contains another is masked whole.
type masker struct {
	r *strings.Replacer // nil: nothing to mask
}

type secretValue struct{ value, name string }

// newMasker masks the values of secretEnv (shown as [secret KEY]) and the
// registry password.
func newMasker(secretEnv map[string]string, auth *RegistryAuth) *masker {
	var vs []secretValue
	add := func(value, name string) {
		for _, v := range append([]string{value}, strings.Split(value, "\n")...) {
			if v = strings.TrimSuffix(v, "\r"); len(v) >= MinMaskedLen {
				vs = append(vs, secretValue{v, name})
			}
		}
	}
	for k, v := range secretEnv {
		add(v, "[secret "+k+"]")
	}
	if auth != nil {
		add(auth.Password, "[registry password]")
	}
	if len(vs) == 0 {
		return &masker{}
	}
	// strings.Replacer tries the old strings in argument order at each
	// position: longest first, then by name for a stable result.
	slices.SortFunc(vs, func(a, b secretValue) int {
		return cmp.Or(cmp.Compare(len(b.value), len(a.value)), strings.Compare(a.name, b.name))
	})
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v.value, v.name)
	}
	return &masker{r: strings.NewReplacer(pairs...)}
}

// containerMasker masks the secret values of a container the engine did
// not create in this run (a rollback's retained container): the names come
// from its LabelSecretEnv, the values from its inspected Env. ok is false
// when it has secrets whose values the runtime did not report, so its log
// lines cannot be masked.
func containerMasker(c Container) (m *masker, ok bool) {
	names := c.Labels[LabelSecretEnv]
	if names == "" {
		return &masker{}, true
	}
	if c.Env == nil {
		return &masker{}, false
	}
	secret := map[string]string{}
	for _, n := range strings.Split(names, ",") {
		secret[n] = ""
	}
	for _, kv := range c.Env {
		if k, v, found := strings.Cut(kv, "="); found {
			if _, isSecret := secret[k]; isSecret {
				secret[k] = v
			}
		}
	}
	return newMasker(secret, nil), true
}

// String masks s.
func (m *masker) String(s string) string {
	if m == nil || m.r == nil {
		return s
	}
	return m.r.Replace(s)
}

// Lines masks and caps each line.
func (m *masker) Lines(lines []string) []string {
	if lines == nil {
		return nil
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = capText(m.String(l), maxLineLen)
	}
	return out
}

// Result masks every free-text field of r.
func (m *masker) Result(r Result) Result {
	r.Message = capText(m.String(r.Message), maxMessageLen)
	r.LogTail = m.Lines(r.LogTail)
	return r
}

// Error masks err's text; errors.Is and errors.As still see err.
func (m *masker) Error(err error) error {
	if err == nil {
		return nil
	}
	if s := m.String(err.Error()); s != err.Error() {
		return &maskedError{msg: s, err: err}
	}
	return err
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// capText cuts s to at most n bytes (on a rune boundary) and says so.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " [" + strconv.Itoa(len(s)-cut) + " bytes cut]"
}
