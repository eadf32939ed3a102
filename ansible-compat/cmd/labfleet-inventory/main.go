// Command labfleet-inventory is an Ansible inventory script: the static
// inventory plus what every node's agent reports. See
// ansible-compat/modules/dyninv.
package main

import (
	"os"

	"github.com/labfleet/labfleet/ansible-compat/modules/dyninv"
)

func main() { os.Exit(dyninv.Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)) }
