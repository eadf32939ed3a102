// Package modules is labfleet's Ansible modules: one Go program that speaks
// Ansible's binary module protocol and is installed under several names
// (labfleet_deploy, labfleet_rollback, labfleet_replication, labfleet_info).
//
// Ansible runs a binary module with one argument, the path of a JSON file
// holding the task's options plus its own _ansible_* keys (check mode, diff,
// no_log, the module's name). The module prints exactly one JSON object on
// stdout: changed, failed, msg and its return values.
//
// The modules only talk to labagent, through internal/agentclient. They never
// run docker, a shell or ssh themselves, never change anything in check mode,
// and never print a secret option's value: every string they return has the
// values of secret options (secret_env, registry_password, repl_password)
// replaced by ********, as AnsibleModule does for no_log options.
package modules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Module is one Ansible module.
type Module struct {
	// Name is what a playbook calls it, e.g. "labfleet_deploy".
	Name string
	// Options are the options it accepts besides Ansible's _ansible_* keys.
	Options []Option
	// Run does the work. It must honour p.CheckMode and report failures in
	// the Result (Failed and Msg), never by panicking or exiting.
	Run func(ctx context.Context, p *Params) *Result
}

var registry = map[string]*Module{}

// register adds a module; each module file calls it from init.
func register(m *Module) {
	if _, dup := registry[m.Name]; dup {
		panic("modules: " + m.Name + " registered twice")
	}
	registry[m.Name] = m
}

// Names returns the registered module names, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the module called name, accepting Ansible's prefixed forms
// ("ansible.legacy.labfleet_info") and the remote file name Ansible gives a
// binary module ("AnsiballZ_labfleet_info").
func Lookup(name string) *Module {
	name = filepath.Base(name)
	name = strings.TrimPrefix(name, "AnsiballZ_")
	if i := strings.LastIndex(name, "."); i >= 0 {
		name = name[i+1:]
	}
	return registry[name]
}

// Main runs the module argv asks for and writes its result to stdout. The
// module is the one named by the args file's _ansible_module_name (Ansible
// always sets it), else the program's own name (argv[0], e.g. a symlink
// called labfleet_deploy). For running a module by hand,
// `labfleet-ansible MODULE ARGS.json` also works. It returns the exit code:
// 0, or 1 when the module failed (as AnsibleModule.fail_json does).
func Main(argv []string, stdout, stderr io.Writer) int {
	args := argv[1:]
	self := ""
	if len(argv) > 0 {
		self = argv[0]
	}
	if len(args) == 2 && Lookup(args[0]) != nil {
		self, args = args[0], args[1:]
	}
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stderr, "usage: %s ARGS.json\n       labfleet-ansible MODULE ARGS.json\n\n"+
			"An Ansible binary module: Ansible runs it with the path of a JSON file holding the task's options.\n"+
			"Install it (or a symlink to it) as library/MODULE next to the playbook or in a directory on ANSIBLE_LIBRARY.\n"+
			"Modules: %s\n", filepath.Base(self), strings.Join(Names(), ", "))
		return 2
	}
	res := run(context.Background(), self, args[0])
	if err := res.write(stdout); err != nil {
		fmt.Fprintf(stderr, "cannot write the module result: %v\n", err)
		return 1
	}
	if res.Failed {
		return 1
	}
	return 0
}

// run reads the args file, picks the module, checks the options and runs it.
func run(ctx context.Context, self, argsFile string) *Result {
	raw, err := readArgs(argsFile)
	if err != nil {
		return Fail(err.Error())
	}
	name := self
	if n, ok := raw["_ansible_module_name"].(string); ok && Lookup(n) != nil {
		name = n
	}
	m := Lookup(name)
	if m == nil {
		return Fail(fmt.Sprintf("%s is not a labfleet module (known: %s); Ansible names the module in _ansible_module_name, or run this program under a module's name",
			filepath.Base(name), strings.Join(Names(), ", ")))
	}
	p, err := parseParams(m, raw)
	if err != nil {
		res := Fail(err.Error())
		res.secrets = p.secrets
		return res
	}
	res := m.Run(ctx, p)
	if res == nil {
		res = Fail("module returned no result")
	}
	res.secrets = p.secrets
	res.invocation = p.invocation()
	return res
}

// readArgs reads the JSON args file. Ansible writes the options as one flat
// object for binary modules; the {"ANSIBLE_MODULE_ARGS": {...}} wrapping that
// Python modules get is accepted too.
func readArgs(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the module arguments: %w", err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var raw map[string]any
	if err := d.Decode(&raw); err != nil {
		return nil, fmt.Errorf("the module arguments in %s are not a JSON object (%v); this module is run by Ansible as a binary module", path, err)
	}
	if inner, ok := raw["ANSIBLE_MODULE_ARGS"].(map[string]any); ok {
		raw = inner
	}
	return raw, nil
}

// errOptions marks option values the module cannot work with; every such
// error is an *optionError.
var errOptions = errors.New("invalid options")

// optionError is an option value the module cannot work with. Its message
// names the option as the task spells it and is shown as the task's msg
// as it is.
type optionError struct{ msg string }

func (e *optionError) Error() string { return e.msg }

// Is makes errors.Is(err, errOptions) true.
func (e *optionError) Is(target error) bool { return target == errOptions }

func optErr(format string, args ...any) error {
	return &optionError{msg: fmt.Sprintf(format, args...)}
}
