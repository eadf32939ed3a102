package modules

import (
	"bytes"
	"encoding/json"
	"io"
	"sort"
	"strings"
)

// Result is what a module prints: Ansible's common keys plus the module's
// own return values at the top level.
type Result struct {
	Changed bool
	Failed  bool
	Msg     string
	// Facts become the host's ansible_facts.
	Facts map[string]any
	// Warnings are shown by Ansible as [WARNING] lines.
	Warnings []string
	// Diff is returned under --diff.
	Diff *Diff
	// Values are the module's return values.
	Values map[string]any

	secrets    []string
	invocation map[string]any
}

// Diff is Ansible's before/after pair, shown by --diff.
type Diff struct {
	Before       string `json:"before"`
	After        string `json:"after"`
	BeforeHeader string `json:"before_header,omitempty"`
	AfterHeader  string `json:"after_header,omitempty"`
}

// Fail returns a failed Result with msg.
func Fail(msg string) *Result {
	return &Result{Failed: true, Msg: msg, Values: map[string]any{}}
}

// OK returns a successful Result with msg.
func OK(changed bool, msg string) *Result {
	return &Result{Changed: changed, Msg: msg, Values: map[string]any{}}
}

// Set adds a return value and returns r, for chaining.
func (r *Result) Set(key string, v any) *Result {
	if r.Values == nil {
		r.Values = map[string]any{}
	}
	r.Values[key] = v
	return r
}

// mask replaces secret values shorter than this only where they are a
// whole string: masking "ab" inside every message would garble the output
// and reveal more than it hides.
const maskMinLen = 4

// masked is what replaces a secret value.
const masked = "********"

// write prints the result as one JSON object with every secret value
// masked, wherever it appears (a container's log tail, an agent message).
func (r *Result) write(w io.Writer) error {
	out := map[string]any{}
	for k, v := range r.Values {
		out[k] = v
	}
	out["changed"] = r.Changed
	out["msg"] = r.Msg
	if r.Failed {
		out["failed"] = true
	}
	if r.Facts != nil {
		out["ansible_facts"] = r.Facts
	}
	if len(r.Warnings) > 0 {
		out["warnings"] = r.Warnings
	}
	if r.Diff != nil {
		out["diff"] = r.Diff
	}
	if r.invocation != nil {
		out["invocation"] = r.invocation
	}
	// Round-trip through JSON so that every string, including those
	// inside protobuf-derived or nested values, passes the mask.
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var generic any
	if err := d.Decode(&generic); err != nil {
		return err
	}
	generic = maskValue(generic, secretList(r.secrets))
	b, err = json.Marshal(generic)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// secretList drops empty values and sorts longest first, so a secret that
// contains another is masked whole.
func secretList(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func maskValue(v any, secrets []string) any {
	if len(secrets) == 0 {
		return v
	}
	switch t := v.(type) {
	case string:
		return maskString(t, secrets)
	case []any:
		for i := range t {
			t[i] = maskValue(t[i], secrets)
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[maskString(k, secrets)] = maskValue(x, secrets)
		}
		return out
	}
	return v
}

func maskString(s string, secrets []string) string {
	for _, sec := range secrets {
		if s == sec {
			return masked
		}
		if len(sec) >= maskMinLen {
			s = strings.ReplaceAll(s, sec, masked)
		}
	}
	return s
}
