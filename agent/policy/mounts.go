package policy

import (
	"path/filepath"
	"strings"
)

// never are host paths no deploy may mount, nor any directory above them,
// whatever --allow-mount-prefix says.
var never = []string{"/etc", "/proc", "/sys", "/dev", "/boot"}

// engineSockets are the standard Docker Engine (and containerd) sockets:
// whoever can write to one is root on the node.
var engineSockets = []string{
	"/var/run/docker.sock", "/run/docker.sock",
	"/var/run/containerd/containerd.sock", "/run/containerd/containerd.sock",
}

// forbidden is one host path no mount may be, be inside or contain.
type forbidden struct {
	path string
	kind string // how messages name it, before the path
}

func (p Policy) forbidden() []forbidden {
	var out []forbidden
	for _, s := range append(append([]string{}, engineSockets...), p.EngineSockets...) {
		kind := "the Docker Engine socket "
		if strings.Contains(s, "containerd") {
			kind = "the containerd socket "
		}
		out = append(out, forbidden{s, kind})
	}
	for _, d := range never {
		out = append(out, forbidden{d, ""})
	}
	for _, d := range p.Protected {
		out = append(out, forbidden{d, "the agent's own directory "})
	}
	return out
}

func (p Policy) checkBind(src string) error {
	if !filepath.IsAbs(src) {
		return invalid("bind mount %s: the source must be an absolute host path", src)
	}
	// The rules are checked on every form found, even when resolving the
	// rest failed, so the message names the rule where it can.
	paths, resolveErr := forms(src)
	// name says which reading of the path broke the rule, when it is not
	// the path as given.
	name := func(f string) string {
		if f != filepath.Clean(src) {
			return "bind mount " + src + " (resolves to " + f + ")"
		}
		return "bind mount " + src
	}
	for _, f := range paths {
		if f == "/" {
			return p.refuseMount(name(f), "the host's root / is never mounted")
		}
	}
	for _, fb := range p.forbidden() {
		for _, f := range paths {
			for _, b := range formsOrClean(fb.path) {
				what := fb.kind + b
				switch {
				case f == b:
					return p.refuseMount(name(f), what+" is never mounted")
				case within(f, b):
					return p.refuseMount(name(f), "it is inside "+what+", which is never mounted")
				case within(b, f):
					return p.refuseMount(name(f), "it contains "+what+", which is never mounted")
				}
			}
		}
	}
	if resolveErr != nil {
		return denied("bind mount %s: cannot resolve the path on this node (host policy): %v", src, resolveErr)
	}
	for _, f := range paths {
		if !p.underPrefix(f) {
			return p.refuseMount(name(f), "it is not under a directory this node allows mounts from")
		}
	}
	return nil
}

func (p Policy) underPrefix(path string) bool {
	for _, pre := range p.MountPrefixes {
		if !filepath.IsAbs(pre) {
			continue
		}
		for _, pf := range formsOrClean(pre) {
			if path == pf || within(path, pf) {
				return true
			}
		}
	}
	return false
}

func (p Policy) refuseMount(name, why string) error {
	return denied("%s: %s (host policy); mounts are allowed under %s (now: %s)", name, why, FlagMountPrefix, p.prefixesNow())
}

func (p Policy) prefixesNow() string {
	if len(p.MountPrefixes) == 0 {
		return "none"
	}
	return strings.Join(p.MountPrefixes, ", ")
}

// within reports whether path is strictly inside dir; both are clean.
func within(path, dir string) bool {
	if dir == "/" {
		return path != "/"
	}
	return strings.HasPrefix(path, dir+"/")
}
