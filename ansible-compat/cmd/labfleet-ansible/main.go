// Command labfleet-ansible is labfleet's Ansible modules in one binary:
// installed (or symlinked) as library/labfleet_deploy, labfleet_rollback,
// labfleet_replication and labfleet_info. See ansible-compat/modules.
package main

import (
	"os"

	"github.com/labfleet/labfleet/ansible-compat/modules"
)

func main() { os.Exit(modules.Main(os.Args, os.Stdout, os.Stderr)) }
