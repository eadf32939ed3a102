//go:build !labfleet_lean

package checks

import "github.com/labfleet/labfleet/plugins/runtime"

// All returns every plugin, in the order the multi-call binary lists them.
func All() []runtime.Spec {
	return []runtime.Spec{checkLabagent, checkContainer, checkReplication, checkNode, checkDeploy, checkApp, checkHAProxy}
}
