package policy

import "strings"

// ContainerNetworkPrefix starts a network mode that joins another
// container's network namespace.
const ContainerNetworkPrefix = "container:"

func (p Policy) checkNetwork(r Request) error {
	mode := r.NetworkMode
	hostRefused := func(why string) error {
		return denied("network_mode %s: %shost networking is refused (host policy); start labagent with %s to allow it",
			mode, why, FlagHostNetwork)
	}
	switch {
	case mode == "host":
		if !p.HostNetwork {
			return hostRefused("")
		}
	case strings.HasPrefix(mode, ContainerNetworkPrefix):
		ref := strings.TrimPrefix(mode, ContainerNetworkPrefix)
		if ref == "" {
			return invalid("network_mode %s: name the container whose network to join", mode)
		}
		c, ok := findContainer(r.Containers, ref)
		if !ok {
			return denied("network_mode %s: %s is not a container of an app on node %s; only the containers labfleet runs on this node may share their network (host policy), named by container name or full ID",
				mode, ref, orDash(r.Node))
		}
		if c.NetworkMode == "host" && !p.HostNetwork {
			return hostRefused(ref + " uses the host's network, and ")
		}
	}
	return nil
}

// findContainer matches the engine's own precedence only where it is
// unambiguous: a full ID or an exact name. An ID prefix is refused, since
// the engine would prefer a container of that name, which may not be ours.
func findContainer(cs []Container, ref string) (Container, bool) {
	ref = strings.TrimPrefix(ref, "/")
	for _, c := range cs {
		if ref == c.ID || ref == strings.TrimPrefix(c.Name, "/") {
			return c, true
		}
	}
	return Container{}, false
}
