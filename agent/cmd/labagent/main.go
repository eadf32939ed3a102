// Command labagent is the labfleet node agent. See agent/agentcmd.
package main

import (
	"os"

	"github.com/labfleet/labfleet/agent/agentcmd"
)

func main() { os.Exit(agentcmd.Main(os.Args[1:], os.Stdout, os.Stderr)) }
