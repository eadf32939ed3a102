// Package policy is the agent's host policy for deploys: what a deploy
// request may ask of this node. The agent runs deploys as root on the
// Docker Engine, so a request that bind-mounts / or the Docker socket, or
// joins another container's network, is root on the node; the policy
// refuses such requests before anything is pulled, naming the rule and the
// labagent flag that would allow what may be allowed.
//
// It imports only the standard library: agent/service converts the
// request into a Request and asks Check.
package policy

// Policy is what labagent's flags allow.
type Policy struct {
	// MountPrefixes are the host directories under which bind mounts are
	// allowed (--allow-mount-prefix, repeatable). Empty allows none.
	MountPrefixes []string
	// HostNetwork allows network_mode "host" (--allow-host-network).
	HostNetwork bool
	// Protected are host paths never mounted whatever the prefixes say:
	// the agent's state and TLS directories, added by labagent at start.
	Protected []string
}
