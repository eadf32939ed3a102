// Package version reports the labfleet version compiled into every binary.
//
// The Makefile sets Version with -ldflags; a plain `go build` falls back to
// the module version or the VCS revision so that a binary never claims to be
// a release it is not.
package version

import "runtime/debug"

// Version is set at link time: -X github.com/labfleet/labfleet/internal/version.Version=v0.1.0
var Version = ""

// String returns the version of this binary.
func String() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
