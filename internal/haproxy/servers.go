package haproxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Server is one server of a backend as HAProxy sees it, from `show stat`
// merged with `show servers state`.
type Server struct {
	Backend, Name string
	// Status is show stat's status: UP, DOWN, DRAIN, MAINT, "no check", or
	// a transition such as "UP 1/2" (up, one failed check of the two that
	// take it down) or "DOWN 1/2" (down, one passed check of the two that
	// bring it up).
	Status string
	// Sessions is scur: the requests (HTTP mode) or connections (TCP mode)
	// the server is handling now.
	Sessions int
	// Queued is qcur: requests waiting for a connection slot on this
	// server (only with maxconn). They still go to it even when drained.
	Queued int
	// Weight is show stat's weight.
	Weight int
	// Backup is true for a server declared `backup`.
	Backup bool
	// CheckStatus is show stat's check_status, e.g. L7OK, L4CON, L7STS,
	// or INI before the first check; empty when checks are off (no
	// `check`, or maint). The "* " HAProxy puts before it while a check is
	// running is removed.
	CheckStatus string
	// CheckHealth counts up to CheckRise+CheckFall-1 while checks pass and
	// down while they fail; all three are zero without checks.
	CheckHealth, CheckRise, CheckFall int
	// Addr is the server's host:port.
	Addr string
	// Admin is the administrative state set by an operator (or config):
	// "ready", "drain" or "maint", from srv_admin_state.
	Admin string
	// Operational is true when srv_op_state is 2 (running): the server's
	// health checks pass (or it has none), whatever its admin state. It is
	// false in maint, where HAProxy stops checking.
	Operational bool
}

// Healthy reports whether the server is Operational and, when it is
// checked, at full health: its latest checks passed and no transition
// ("UP 1/2") is in progress. After maint, HAProxy marks a server running
// before any check has passed; Healthy waits for that check.
func (s Server) Healthy() bool {
	if !s.Operational {
		return false
	}
	return s.CheckRise == 0 || s.CheckHealth >= s.CheckRise+s.CheckFall-1
}

// srv_admin_state bits, from HAProxy's enum srv_admin. CMAINT (0x04,
// `disabled` in the config) stays set after an operator readies the
// server, so only the forced, inherited and resolution bits mean maint.
const (
	admForcedMaint     = 0x01
	admInheritedMaint  = 0x02
	admForcedDrain     = 0x08
	admInheritedDrain  = 0x10
	admResolutionMaint = 0x20

	admMaint = admForcedMaint | admInheritedMaint | admResolutionMaint
	admDrain = admForcedDrain | admInheritedDrain
)

// srv_op_state value of a server whose checks pass (SRV_ST_RUNNING).
const opRunning = 2

func adminState(bits int) string {
	switch {
	case bits&admMaint != 0:
		return "maint"
	case bits&admDrain != 0:
		return "drain"
	}
	return "ready"
}

// Servers returns the servers of backend in configuration order. It
// returns ErrNoBackend, naming the backends that exist, when there is no
// such backend.
func (c *Client) Servers(ctx context.Context, backend string) ([]Server, error) {
	if err := checkName("backend", backend); err != nil {
		return nil, err
	}
	out, err := c.Command(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	st, err := parseStat(out)
	if err != nil {
		return nil, fmt.Errorf("cannot read `show stat` from %s: %w", c.Addr, err)
	}
	if !slices.Contains(st.backends, backend) {
		return nil, c.noBackend(backend, st.backends)
	}
	out, err = c.Command(ctx, "show servers state "+backend)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(out, "Can't find backend") {
		// Gone between the two commands (a reload).
		return nil, c.noBackend(backend, nil)
	}
	states, err := parseServersState(out)
	if err != nil {
		return nil, fmt.Errorf("cannot read `show servers state %s` from %s: %w", backend, c.Addr, err)
	}
	var servers []Server
	for _, s := range st.servers {
		if s.Backend != backend {
			continue
		}
		if ss, ok := states[s.Backend+"/"+s.Name]; ok {
			s.Admin = adminState(ss.admin)
			s.Operational = ss.op == opRunning
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// Server returns one server of backend. It returns ErrNoServer, naming the
// servers that exist, when the backend has no such server.
func (c *Client) Server(ctx context.Context, backend, server string) (Server, error) {
	if err := checkName("server", server); err != nil {
		return Server{}, err
	}
	servers, err := c.Servers(ctx, backend)
	if err != nil {
		return Server{}, err
	}
	for _, s := range servers {
		if s.Name == server {
			return s, nil
		}
	}
	return Server{}, c.noServer(backend, server, servers)
}

func (c *Client) noBackend(backend string, have []string) error {
	if len(have) == 0 {
		return fmt.Errorf("%w: HAProxy at %s has no backend %q", ErrNoBackend, c.Addr, backend)
	}
	return fmt.Errorf("%w: HAProxy at %s has no backend %q (backends: %s)", ErrNoBackend, c.Addr, backend, strings.Join(have, ", "))
}

func (c *Client) noServer(backend, server string, have []Server) error {
	names := make([]string, len(have))
	for i, s := range have {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: backend %q on HAProxy at %s has no server %q (it has no servers)", ErrNoServer, backend, c.Addr, server)
	}
	return fmt.Errorf("%w: backend %q on HAProxy at %s has no server %q (servers: %s)", ErrNoServer, backend, c.Addr, server, strings.Join(names, ", "))
}
