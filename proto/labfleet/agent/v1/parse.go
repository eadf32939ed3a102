package agentv1

// Parsers for the docker-run-like notations that every client (the
// controller's flags, the Ansible modules) accepts, so that they read the
// same text the same way.

import (
	"fmt"
	"strconv"
	"strings"
)

// ParsePortMapping reads HOST:CONTAINER[/tcp|udp], or CONTAINER alone (the
// engine picks the host port).
func ParsePortMapping(s string) (*PortMapping, error) {
	proto := ""
	if p, pr, ok := strings.Cut(s, "/"); ok {
		s, proto = p, pr
	}
	host, ctr, ok := strings.Cut(s, ":")
	if !ok {
		host, ctr = "0", s
	}
	h, err1 := strconv.ParseUint(host, 10, 16)
	c, err2 := strconv.ParseUint(ctr, 10, 16)
	if err1 != nil || err2 != nil || c == 0 {
		return nil, fmt.Errorf("want HOST:CONTAINER[/tcp|udp], e.g. 8000:8000")
	}
	return &PortMapping{HostPort: uint32(h), ContainerPort: uint32(c), Protocol: proto}, nil
}

// ParseMount reads /host/path:/target[:ro|rw] (a bind mount) or
// NAME:/target[:ro|rw] (a named volume).
func ParseMount(s string) (*Mount, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("want SOURCE:TARGET[:ro]")
	}
	m := &Mount{Source: parts[0], Target: parts[1], Type: MountType_MOUNT_TYPE_BIND}
	if !strings.HasPrefix(parts[0], "/") {
		m.Type = MountType_MOUNT_TYPE_VOLUME
	}
	if len(parts) == 3 {
		if parts[2] != "ro" && parts[2] != "rw" {
			return nil, fmt.Errorf("the third part must be ro or rw")
		}
		m.ReadOnly = parts[2] == "ro"
	}
	return m, nil
}
