//go:build !labfleet_lean

package checks

import "github.com/labfleet/labfleet/plugins/pluginkit"

// All returns every plugin, in the order the multi-call binary lists them.
func All() []pluginkit.Spec {
	return []pluginkit.Spec{checkLabagent, checkContainer, checkReplication, checkNode, checkDeploy, checkApp, checkHAProxy}
}
