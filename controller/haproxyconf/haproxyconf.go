// Package haproxyconf writes the HAProxy backend for the inventory's
// nodes, the way `nagios config` writes Nagios objects: labcontroller
// prints it, the operator pastes it into haproxy.cfg (or the lab writes
// it), and `haproxy -c` validates it first.
//
// The seed's design is primary/backup: node1 serves and node2 takes over
// only when node1 is down, so that two masters never take writes at once
// (the case master-master replication handles worst). A host var
// haproxy_backup=true marks a backup server; without any, the backend
// balances round robin over all nodes, as before. With agent checks on,
// every server also asks its node's labagent (agent-check) whether the
// node may serve, which keeps a node that came back with its database
// behind out of rotation until it has caught up.
package haproxyconf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labfleet/labfleet/internal/fleet"
)

// Server is one server line.
type Server struct {
	Name   string
	Addr   string // HOST:PORT of the app on the node
	Backup bool
	// AgentAddr is HOST:PORT of the node's labagent agent-check listener;
	// empty for none.
	AgentAddr string
}

// Options shape the backend.
type Options struct {
	Backend    string        // default "app"
	HealthPath string        // default /healthz
	Inter      time.Duration // health check interval, default 1s
	AgentInter time.Duration // agent-check interval, default 2s
	Rise, Fall int           // default 2 and 2
}

// ErrInvalid is an inventory value the backend cannot be written from.
var ErrInvalid = errors.New("invalid HAProxy backend")

var name = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Backend renders the backend block.
func Backend(o Options, servers []Server) (string, error) {
	if o.Backend == "" {
		o.Backend = "app"
	}
	if o.HealthPath == "" {
		o.HealthPath = "/healthz"
	}
	if o.Inter <= 0 {
		o.Inter = time.Second
	}
	if o.AgentInter <= 0 {
		o.AgentInter = 2 * time.Second
	}
	if o.Rise <= 0 {
		o.Rise = 2
	}
	if o.Fall <= 0 {
		o.Fall = 2
	}
	if !name.MatchString(o.Backend) {
		return "", fmt.Errorf("%w: backend name %q: use letters, digits, '.', '_' and '-'", ErrInvalid, o.Backend)
	}
	if !strings.HasPrefix(o.HealthPath, "/") || strings.ContainsAny(o.HealthPath, " \t\r\n") {
		return "", fmt.Errorf("%w: health path %q must start with / and hold no spaces", ErrInvalid, o.HealthPath)
	}
	if len(servers) == 0 {
		return "", fmt.Errorf("%w: no servers: the inventory group has no hosts", ErrInvalid)
	}
	active := 0
	for _, s := range servers {
		if !s.Backup {
			active++
		}
	}
	if active == 0 {
		return "", fmt.Errorf("%w: every server is a backup (haproxy_backup=true on all hosts): at least one must be active", ErrInvalid)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "backend %s\n", o.Backend)
	if active < len(servers) {
		fmt.Fprintf(&b, "    # primary/backup: the backup servers take traffic only when no active server is usable\n")
	}
	fmt.Fprintf(&b, "    balance roundrobin\n    option httpchk GET %s\n    http-check expect status 200\n", o.HealthPath)
	fmt.Fprintf(&b, "    default-server inter %s rise %d fall %d\n", ms(o.Inter), o.Rise, o.Fall)
	for _, s := range servers {
		if !name.MatchString(s.Name) {
			return "", fmt.Errorf("%w: server name %q (the inventory host name): use letters, digits, '.', '_' and '-'", ErrInvalid, s.Name)
		}
		if err := hostPort(s.Addr); err != nil {
			return "", fmt.Errorf("%w: server %s: address %q: %v", ErrInvalid, s.Name, s.Addr, err)
		}
		fmt.Fprintf(&b, "    server %s %s check", s.Name, s.Addr)
		if s.Backup {
			b.WriteString(" backup")
		}
		if s.AgentAddr != "" {
			if err := hostPort(s.AgentAddr); err != nil {
				return "", fmt.Errorf("%w: server %s: agent-check address %q: %v", ErrInvalid, s.Name, s.AgentAddr, err)
			}
			h, p, _ := net.SplitHostPort(s.AgentAddr)
			fmt.Fprintf(&b, " agent-check agent-addr %s agent-port %s agent-inter %s", h, p, ms(o.AgentInter))
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

func hostPort(addr string) error {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if h == "" || strings.ContainsAny(h, " \t\r\n#") {
		return errors.New("no host")
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1-65535", p)
	}
	return nil
}

// InventoryOptions say where the app and the agent-check listen on each node.
type InventoryOptions struct {
	// AppPort is the app's port on every node; a host var app_port overrides it.
	AppPort int
	// AgentCheck adds agent checks at labagent_check_port (default AgentCheckPort).
	AgentCheck bool
}

// AgentCheckPort is labagent's default --agent-check-listen port.
const AgentCheckPort = 7444

// FromInventory makes a server per node: the node's address (ansible_host),
// its app port, haproxy_backup=true for a backup.
func FromInventory(nodes []fleet.Node, o InventoryOptions) ([]Server, error) {
	var out []Server
	for _, n := range nodes {
		host, _, err := net.SplitHostPort(n.Addr())
		if err != nil {
			return nil, fmt.Errorf("%w: host %s: %v", ErrInvalid, n.Name, err)
		}
		port, err := intVar(n, "app_port", o.AppPort)
		if err != nil {
			return nil, err
		}
		if port == 0 {
			return nil, fmt.Errorf("%w: host %s: no app port: give --port or the host var app_port", ErrInvalid, n.Name)
		}
		s := Server{Name: n.Name, Addr: net.JoinHostPort(host, strconv.Itoa(port))}
		switch v := strings.ToLower(fmt.Sprint(n.Vars["haproxy_backup"])); v {
		case "true", "yes", "1", "on":
			s.Backup = true
		case "false", "no", "0", "off", "<nil>", "":
		default:
			return nil, fmt.Errorf("%w: host %s: haproxy_backup=%v: use true or false", ErrInvalid, n.Name, n.Vars["haproxy_backup"])
		}
		if o.AgentCheck {
			p, err := intVar(n, "labagent_check_port", AgentCheckPort)
			if err != nil {
				return nil, err
			}
			s.AgentAddr = net.JoinHostPort(host, strconv.Itoa(p))
		}
		out = append(out, s)
	}
	return out, nil
}

func intVar(n fleet.Node, key string, def int) (int, error) {
	v, ok := n.Vars[key]
	if !ok {
		return def, nil
	}
	p, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%w: host %s: %s=%v is not a port", ErrInvalid, n.Name, key, v)
	}
	return p, nil
}

// Check validates backend with `haproxy -c` (bin, default "haproxy"),
// wrapped in the smallest config that uses it; the error holds HAProxy's
// own message.
func Check(ctx context.Context, bin, backend string) error {
	if bin == "" {
		bin = "haproxy"
	}
	dir, err := os.MkdirTemp("", "labfleet-haproxy-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	first := strings.Fields(backend)
	if len(first) < 2 || first[0] != "backend" {
		return fmt.Errorf("%w: not a backend block", ErrInvalid)
	}
	cfg := "defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n" +
		"frontend fe\n    bind 127.0.0.1:9\n    default_backend " + first[1] + "\n" + backend
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bin, "-c", "-f", path).CombinedOutput()
	if err != nil {
		var alerts []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "[ALERT]") {
				alerts = append(alerts, strings.TrimSpace(line))
			}
		}
		if len(alerts) == 0 {
			alerts = []string{strings.TrimSpace(string(out))}
		}
		return fmt.Errorf("haproxy -c refused the backend: %v: %s", err, strings.Join(alerts, "; "))
	}
	return nil
}
