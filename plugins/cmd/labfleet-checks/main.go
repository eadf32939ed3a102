// Command labfleet-checks is labfleet's Nagios plugins in one program: run
// it through a link named after a plugin (check_labagent, check_container,
// check_replication, check_node, check_deploy, check_app, check_haproxy),
// or as `labfleet-checks check_NAME [options]`.
package main

import (
	"os"

	"github.com/labfleet/labfleet/internal/version"
	"github.com/labfleet/labfleet/plugins/checks"
	"github.com/labfleet/labfleet/plugins/pluginkit"
)

func main() {
	pluginkit.Version = version.String()
	os.Exit(pluginkit.Dispatch(os.Args, checks.All(), os.Stdout))
}
