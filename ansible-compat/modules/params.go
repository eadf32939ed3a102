package modules

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind is an option's type. Values are converted the way AnsibleModule
// converts them, so that what a playbook writes (YAML, Jinja results, -a
// key=value strings) all work.
type Kind int

// Option kinds.
const (
	Str     Kind = iota // a string; numbers and booleans are turned into strings
	Bool                // true/false, yes/no, on/off, 1/0
	Int                 // an integer or a string of digits
	Seconds             // seconds as a number, or a duration such as "90s" or "2m"
	List                // a list of strings, or one comma-separated string
	Dict                // a mapping of strings to scalars (values become strings)
	Dicts               // a list of mappings (read with Params.Dicts)
	Float               // a number such as 0.5, or a string of one
)

func (k Kind) String() string {
	return [...]string{"str", "bool", "int", "seconds", "list", "dict", "list of dicts", "float"}[k]
}

// Option describes one module option.
type Option struct {
	Name     string
	Kind     Kind
	Required bool
	// Secret is Ansible's no_log for an option: its value (for a Dict, each
	// value) is never returned and is masked in every string the module returns.
	Secret bool
	// Default is returned by the getters when the option is not given; its
	// Go type matches Kind (string, bool, int, float64, time.Duration).
	Default any
	// Choices, when set, are the only values a Str option may take.
	Choices []string
}

// Params are a module's checked options plus Ansible's internal flags.
type Params struct {
	Module string
	// CheckMode is ansible-playbook --check: report, change nothing.
	CheckMode bool
	// Diff is --diff: return before/after.
	Diff bool
	// NoLog is the task's no_log.
	NoLog bool

	opts    map[string]Option
	values  map[string]any
	secrets []string
}

// noLogValue is what Ansible shows for a no_log option's value.
const noLogValue = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

// parseParams checks raw against m's options: unknown options, missing
// required ones and values of the wrong type are all reported at once.
func parseParams(m *Module, raw map[string]any) (*Params, error) {
	p := &Params{Module: m.Name, opts: map[string]Option{}, values: map[string]any{}}
	for _, o := range m.Options {
		p.opts[o.Name] = o
	}
	p.CheckMode = truthy(raw["_ansible_check_mode"])
	p.Diff = truthy(raw["_ansible_diff"])
	p.NoLog = truthy(raw["_ansible_no_log"])

	var unknown, missing, bad []string
	rejected := map[string]bool{}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "_ansible_") {
			continue
		}
		o, ok := p.opts[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		if raw[k] == nil {
			continue // "option: " in YAML, the same as not giving it
		}
		v, err := convert(o.Kind, raw[k])
		if err == nil && len(o.Choices) > 0 {
			if s := v.(string); s != "" && !contains(o.Choices, s) {
				err = fmt.Errorf("must be one of: %s", strings.Join(o.Choices, ", "))
			}
		}
		if o.Secret {
			p.addSecrets(v, raw[k])
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", k, err))
			rejected[k] = true
			continue
		}
		p.values[k] = v
	}
	for _, o := range m.Options {
		if _, ok := p.values[o.Name]; o.Required && !ok && !rejected[o.Name] {
			missing = append(missing, o.Name)
		}
	}
	var problems []string
	if len(unknown) > 0 {
		names := make([]string, 0, len(m.Options))
		for _, o := range m.Options {
			names = append(names, o.Name)
		}
		sort.Strings(names)
		problems = append(problems, fmt.Sprintf("Unsupported parameters for (%s) module: %s. Supported parameters include: %s",
			m.Name, strings.Join(unknown, ", "), strings.Join(names, ", ")))
	}
	if len(missing) > 0 {
		problems = append(problems, "missing required arguments: "+strings.Join(missing, ", "))
	}
	problems = append(problems, bad...)
	if len(problems) > 0 {
		return p, optErr("%s", strings.Join(problems, "; "))
	}
	return p, nil
}

// addSecrets remembers a secret option's values for masking, even when the
// value was rejected (a bad value may still be a real secret).
func (p *Params) addSecrets(v, raw any) {
	switch t := v.(type) {
	case string:
		p.secrets = append(p.secrets, t)
	case map[string]string:
		for _, s := range t {
			p.secrets = append(p.secrets, s)
		}
	default:
		p.secrets = append(p.secrets, scalarStrings(raw)...)
	}
}

// scalarStrings lists every scalar inside v as a string.
func scalarStrings(v any) []string {
	switch t := v.(type) {
	case map[string]any:
		var out []string
		for _, x := range t {
			out = append(out, scalarStrings(x)...)
		}
		return out
	case []any:
		var out []string
		for _, x := range t {
			out = append(out, scalarStrings(x)...)
		}
		return out
	case nil:
		return nil
	}
	return []string{fmt.Sprint(v)}
}

// invocation is what Python modules return as invocation.module_args: the
// options as understood, with secret values replaced.
func (p *Params) invocation() map[string]any {
	args := map[string]any{}
	for k, v := range p.values {
		o := p.opts[k]
		switch {
		case o.Secret && o.Kind == Dict:
			masked := map[string]string{}
			for dk := range v.(map[string]string) {
				masked[dk] = noLogValue
			}
			args[k] = masked
		case o.Secret:
			args[k] = noLogValue
		case o.Kind == Seconds:
			args[k] = v.(time.Duration).Seconds()
		default:
			args[k] = v
		}
	}
	return map[string]any{"module_args": args}
}

// Has reports whether the option was given.
func (p *Params) Has(name string) bool {
	_, ok := p.values[name]
	return ok
}

func (p *Params) get(name string, k Kind) (any, bool) {
	o, ok := p.opts[name]
	if !ok || o.Kind != k {
		panic(fmt.Sprintf("modules: %s has no %s option %q", p.Module, k, name))
	}
	if v, ok := p.values[name]; ok {
		return v, true
	}
	return o.Default, o.Default != nil
}

// Str returns a Str option ("" when absent without a default).
func (p *Params) Str(name string) string {
	v, _ := p.get(name, Str)
	s, _ := v.(string)
	return s
}

// Bool returns a Bool option.
func (p *Params) Bool(name string) bool {
	v, _ := p.get(name, Bool)
	b, _ := v.(bool)
	return b
}

// Int returns an Int option.
func (p *Params) Int(name string) int {
	v, _ := p.get(name, Int)
	n, _ := v.(int)
	return n
}

// Float returns a Float option.
func (p *Params) Float(name string) float64 {
	v, _ := p.get(name, Float)
	f, _ := v.(float64)
	return f
}

// Duration returns a Seconds option.
func (p *Params) Duration(name string) time.Duration {
	v, _ := p.get(name, Seconds)
	d, _ := v.(time.Duration)
	return d
}

// List returns a List option.
func (p *Params) List(name string) []string {
	v, _ := p.get(name, List)
	l, _ := v.([]string)
	return l
}

// Dict returns a Dict option.
func (p *Params) Dict(name string) map[string]string {
	v, _ := p.get(name, Dict)
	m, _ := v.(map[string]string)
	return m
}

// Dicts returns a Dicts option.
func (p *Params) Dicts(name string) []map[string]any {
	v, _ := p.get(name, Dicts)
	l, _ := v.([]map[string]any)
	return l
}
