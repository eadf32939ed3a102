package dyninv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

const usage = `usage: labfleet-inventory --list | --host HOST

An Ansible inventory script: the static inventory in $LABFLEET_INVENTORY plus what
each node's labagent reports (host vars labfleet_*, groups app_<name> and
labfleet_unreachable).

  ansible-inventory -i labfleet-inventory --list
  ansible -i labfleet-inventory app_todo -m labfleet_info -a 'agent={{ ansible_host }}:{{ labagent_port | default(7443) }}'

Environment:
  LABFLEET_INVENTORY          static inventory file, INI or YAML (required)
  LABFLEET_GROUP              group whose hosts run labagent (default nodes)
  LABFLEET_CA, LABFLEET_CERT, LABFLEET_KEY, LABFLEET_TOKEN_FILE
                              TLS files and token (else the host vars labagent_ca, ...)
  LABFLEET_INSECURE           true: plaintext to loopback agents
  LABFLEET_INVENTORY_TIMEOUT  how long to wait for the agents (default 5s)
`

// Main runs the inventory script with args (without the program name)
// and returns its exit code: 0, 1 when the inventory cannot be built, 2
// for usage errors.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var (
		out any
		err error
	)
	switch {
	case len(args) == 1 && args[0] == "--list":
		var c Config
		if c, err = ConfigFromEnv(getenv); err == nil {
			out, err = List(context.Background(), c)
		}
	case len(args) == 2 && args[0] == "--host":
		var c Config
		if c, err = ConfigFromEnv(getenv); err == nil {
			out, err = Host(context.Background(), c, args[1])
		}
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help"):
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "labfleet-inventory: cannot write the inventory: %v\n", err)
		return 1
	}
	return 0
}
