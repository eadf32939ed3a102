//go:build labfleet_lean

package checks

import "github.com/labfleet/labfleet/plugins/pluginkit"

// All is check_app alone in the lean build (-tags labfleet_lean): without
// the gRPC and database clients the other checks need, it starts as fast
// as a C plugin does.
func All() []pluginkit.Spec { return []pluginkit.Spec{checkApp} }
