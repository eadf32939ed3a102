//go:build !labfleet_faultinject

package deploy

// Release builds have no fault hook; see fault_on.go.
func faultAt(Phase) {}
