// Package policy is the agent's host policy for deploys: what a deploy
// request may ask of this node. The agent runs deploys as root on the
// Docker Engine, so a request that bind-mounts / or the Docker socket, or
// joins another container's network, is root on the node; the policy
// refuses such requests before anything is pulled, naming the rule and the
// labagent flag that would allow what may be allowed.
//
// It imports only the standard library: agent/service converts the
// request into a Request and asks Check. It must never change anything on
// the host; it only reads paths (to resolve symlinks).
package policy

import (
	"errors"
	"fmt"
	"path/filepath"
)

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
	// EngineSockets are Docker Engine sockets never mounted besides the
	// standard ones: agent/service adds the one the agent talks to.
	EngineSockets []string
}

// Errors Check returns; agent/service maps them to gRPC codes.
var (
	// ErrDenied: the request is well formed but this node's policy refuses
	// it (PermissionDenied).
	ErrDenied = errors.New("refused by host policy")
	// ErrInvalid: the request cannot be checked as given (InvalidArgument).
	ErrInvalid = errors.New("invalid request")
)

// Error is a refusal: its message is what the caller reads (naming the
// rule and the flag); it matches ErrDenied or ErrInvalid.
type Error struct {
	kind error
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns ErrDenied or ErrInvalid.
func (e *Error) Unwrap() error { return e.kind }

func denied(format string, args ...any) error {
	return &Error{kind: ErrDenied, msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &Error{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// Flag names, as labagent spells them; messages tell the operator which one
// would allow what was refused.
const (
	FlagMountPrefix = "--allow-mount-prefix"
	FlagHostNetwork = "--allow-host-network"
)

// Mount is a mount the request asks for.
type Mount struct {
	// Source is a host path (bind mount) or a volume name.
	Source string
	// Volume is true for a named volume, which the policy leaves alone:
	// the engine keeps volumes under its own directory.
	Volume bool
}

// Container is a container the agent manages on this node, for
// network_mode container:NAME.
type Container struct {
	ID, Name string
	// NetworkMode is the container's own network mode: joining a container
	// that uses the host's network is host networking.
	NetworkMode string
}

// Request is what a deploy asks of the node.
type Request struct {
	Mounts      []Mount
	NetworkMode string
	// Node is this agent's node name, for messages.
	Node string
	// Containers are this node's labfleet containers; the service lists
	// them only when NetworkMode is container:NAME.
	Containers []Container
}

// Check returns nil when p allows r, else an error wrapping ErrDenied or
// ErrInvalid that names the rule and the labagent flag concerned.
func Check(p Policy, r Request) error {
	if err := p.checkNetwork(r); err != nil {
		return err
	}
	for _, m := range r.Mounts {
		if m.Volume {
			continue
		}
		if err := p.checkBind(m.Source); err != nil {
			return err
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Validate checks the policy itself, for labagent to refuse at start: a
// prefix must be absolute, may not be / (which would allow every host
// directory not forbidden by name), and may not be a path that is never
// mounted (the flag would allow nothing). A prefix that merely contains a
// forbidden path (/var holds /var/run/docker.sock) is fine: Check still
// refuses that path and its parents.
func (p Policy) Validate() error {
	for _, pre := range p.MountPrefixes {
		if !filepath.IsAbs(pre) {
			return fmt.Errorf("%s %q: must be an absolute path", FlagMountPrefix, pre)
		}
		if filepath.Clean(pre) == "/" {
			return fmt.Errorf("%s /: would allow mounting any host directory; give the directories deploys may mount from, e.g. /srv/labfleet", FlagMountPrefix)
		}
		preForms, err := forms(pre)
		if err != nil {
			return fmt.Errorf("%s %s: cannot resolve it: %v", FlagMountPrefix, pre, err)
		}
		for _, fb := range p.forbidden() {
			for _, b := range formsOrClean(fb.path) {
				for _, f := range preForms {
					if f == b || within(f, b) {
						return fmt.Errorf("%s %s: %s%s is never mounted, so nothing under it would be allowed", FlagMountPrefix, pre, fb.kind, b)
					}
				}
			}
		}
	}
	return nil
}
