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
	// false in maint, where HAProxy stops checking, and when an
	// agent-check answered "down".
	Operational bool
	// Agent is show stat's last_agt: the agent-check's last answer as
	// HAProxy words it ("via agent : up (COMMENT)"; the weight it set is
	// in Weight), or why the agent could not be asked ("Connection
	// refused"). Empty without an agent-check. See AgentComment.
	Agent string
	// AgentStatus is show stat's agent_status: L7OK when the agent
	// answered up, L7STS when it answered down, L4CON or L4TOUT when it
	// could not be reached (HAProxy then keeps the state and weight it
	// had); empty without an agent-check.
	AgentStatus string
}

// Usable reports whether HAProxy may send the server new requests: its
// health checks find it up (Operational), its admin state is ready (not
// drain or maint) and its weight is above 0 (an agent-check answering
// "up 0%" sets it to 0). This is HAProxy's own rule for using a backup
// server: backups take traffic only while no active server is Usable.
// Admin and Operational come from `show servers state`, so Usable needs
// a Server read with Servers or Server.
func (s Server) Usable() bool {
	return s.Operational && s.Admin == StateReady && s.Weight > 0
}

// NotUsable says why the server is not Usable, for people: "maint",
// "down (check L4CON)", "down (agent: COMMENT)", "drain", "weight 0
// (agent: COMMENT)"; "" when it is Usable. The agent's comment is the one
// its last answer carried, which is why a labagent holds its node out.
func (s Server) NotUsable() string {
	agent := func(what string) string {
		if c := s.AgentComment(); c != "" {
			return what + " (agent: " + c + ")"
		}
		return what
	}
	switch {
	case s.Usable():
		return ""
	case s.Admin == StateMaint:
		return "maint"
	case !s.Operational && strings.HasPrefix(s.Status, "DOWN") && strings.HasSuffix(s.Status, "(agent)"):
		// An agent-check's "down" wins over the health check's result.
		return agent("down")
	case !s.Operational && s.CheckStatus != "":
		return "down (check " + s.CheckStatus + ")"
	case !s.Operational:
		return "down"
	case s.Admin == StateDrain:
		return "drain"
	case s.Weight <= 0:
		return agent("weight 0")
	}
	// Admin unknown: the server was not in `show servers state`.
	return "state unknown"
}

// AgentComment is the comment of the agent-check's last answer (what the
// agent wrote after '#'), from Agent; "" when the answer had none, the
// agent could not be reached or the server has no agent-check.
func (s Server) AgentComment() string { return AgentComment(s.Agent) }

// AgentComment reads the comment from show stat's last_agt, which HAProxy
// words "via agent : up (COMMENT)" after an answer "up 0% #COMMENT". It
// returns "" for a last_agt without one ("via agent : up", "Connection
// refused"). HAProxy cuts last_agt to about 128 characters, so a long
// comment may come back cut, without its closing parenthesis.
func AgentComment(lastAgt string) string {
	rest, ok := strings.CutPrefix(lastAgt, "via agent : ")
	if !ok {
		return ""
	}
	_, c, ok := strings.Cut(rest, " (")
	if !ok {
		return ""
	}
	return strings.TrimSuffix(c, ")")
}

// Serving returns the servers HAProxy sends new requests to, in
// configuration order: the Usable active servers, or, when there is none,
// the Usable backups (then backup is true). HAProxy sends everything to
// the first of those backups unless the backend has `option allbackups`,
// which the runtime API does not show, so all are returned. Nothing is
// returned when no server is Usable.
func Serving(servers []Server) (serving []Server, backup bool) {
	for _, s := range servers {
		if s.Usable() && !s.Backup {
			serving = append(serving, s)
		}
	}
	if len(serving) > 0 {
		return serving, false
	}
	for _, s := range servers {
		if s.Usable() && s.Backup {
			serving = append(serving, s)
		}
	}
	return serving, len(serving) > 0
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
