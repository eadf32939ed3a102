// Command labcontroller is labfleet's CLI for the control server. See controller/cli.
package main

import (
	"os"

	"github.com/labfleet/labfleet/controller/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
