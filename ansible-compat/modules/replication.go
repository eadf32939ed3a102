package modules

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/replication"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func init() {
	register(&Module{
		Name: "labfleet_replication",
		Options: withConn(
			Option{Name: "state", Kind: Str, Default: "status", Choices: []string{"status", "setup"}},
			Option{Name: "connection_name", Kind: Str},
			Option{Name: "max_lag", Kind: Seconds, Default: 5 * time.Minute},
			Option{Name: "nodes", Kind: Dicts},
			Option{Name: "mode", Kind: Str, Default: replication.MasterMaster, Choices: []string{replication.MasterMaster, replication.PrimaryReplica}},
			Option{Name: "repl_user", Kind: Str, Default: "repl"},
			Option{Name: "repl_password", Kind: Str, Secret: true},
			Option{Name: "repl_host", Kind: Str, Default: "%"},
			Option{Name: "wait_timeout", Kind: Seconds, Default: 30 * time.Second},
			// How to treat each node's history from before replication; see docs/replication.md.
			Option{Name: "start_at", Kind: Str, Choices: []string{"", replication.StartAtCurrent}},
			Option{Name: "seed_from", Kind: Str},
			Option{Name: "force", Kind: Bool},
		),
		Run: runReplication,
	})
}

func runReplication(ctx context.Context, p *Params) *Result {
	if p.Str("state") == "setup" {
		return replicationSetup(ctx, p)
	}
	return replicationStatus(ctx, p)
}

// replicationStatus reports the node's server facts and connections. It
// fails when a thread is not running, a connection reports an error, there
// is no connection at all, or one lags more than max_lag.
func replicationStatus(ctx context.Context, p *Params) *Result {
	c, addr, fail := dial(p)
	if fail != nil {
		return fail
	}
	defer c.Close()
	st, err := call(ctx, p, func(ctx context.Context) (*agentv1.GetReplicationStatusResponse, error) {
		return c.Agent.GetReplicationStatus(ctx, &agentv1.GetReplicationStatusRequest{ConnectionName: p.Str("connection_name")})
	})
	if err != nil {
		return Fail(explain(addr, err))
	}
	var problems []string
	conns := []any{}
	maxLag := p.Duration("max_lag")
	for _, cn := range st.GetConnections() {
		problem := ""
		if cn.SecondsBehindMaster != nil && maxLag > 0 && time.Duration(cn.GetSecondsBehindMaster())*time.Second > maxLag {
			problem = fmt.Sprintf("connection '%s' is %ds behind its master (max_lag %s)", cn.GetConnectionName(), cn.GetSecondsBehindMaster(), maxLag)
		}
		if cn.GetIoRunning() != "Yes" || cn.GetSqlRunning() != "Yes" || cn.GetLastIoErrno() != 0 || cn.GetLastSqlErrno() != 0 {
			problem = replication.Explain(cn)
		}
		if problem != "" {
			problems = append(problems, problem)
		}
		conns = append(conns, connectionFacts(cn, problem))
	}
	if len(st.GetConnections()) == 0 {
		problems = append(problems, "no replication connection: run labfleet_replication with state: setup")
	}
	r := OK(false, fmt.Sprintf("%s: all threads running", plural(len(conns), "replication connection")))
	if len(problems) > 0 {
		r = Fail(strings.Join(problems, "; "))
	}
	return r.Set("server", serverFacts(st.GetServer())).Set("connections", conns)
}

// replicationSetup runs internal/replication.Setup across the nodes
// given, the same procedure as `labcontroller replication setup`. Run it
// once per play (run_once: true). In check mode it is a dry run.
func replicationSetup(ctx context.Context, p *Params) *Result {
	pw := p.Str("repl_password")
	if pw == "" {
		return Fail("state: setup needs repl_password (mark the task no_log or keep the value in a vault)")
	}
	specs := p.Dicts("nodes")
	if len(specs) < 2 {
		return Fail(fmt.Sprintf("state: setup needs nodes: a list of at least two {name, agent, db_host, db_port}, got %d", len(specs)))
	}
	var members []replication.Member
	for i, n := range specs {
		m, c, err := member(p, i, n)
		if err != nil {
			return Fail(err.Error())
		}
		defer c.Close()
		members = append(members, m)
	}
	var lines []string
	t0 := time.Now()
	rep, err := replication.Setup(ctx, members, replication.Options{
		Mode: p.Str("mode"), ReplUser: p.Str("repl_user"), ReplPassword: pw, ReplHost: p.Str("repl_host"),
		Timeout: p.Duration("wait_timeout"), DryRun: p.CheckMode,
		StartAt: p.Str("start_at"), SeedFrom: p.Str("seed_from"), Force: p.Bool("force"),
		Out: func(node, msg string) {
			lines = append(lines, fmt.Sprintf("[%s %5.1fs] %s", node, time.Since(t0).Seconds(), msg))
		},
	})
	var r *Result
	switch {
	case err != nil:
		r = Fail("replication setup failed: " + err.Error() + " (re-running setup repairs a partial setup)")
	case p.CheckMode:
		r = OK(rep.Changed, "dry run (check mode): nothing was changed")
		if rep.Changed {
			r.Msg = "dry run (check mode): setup would change the nodes; nothing was changed"
		}
	case rep.Changed:
		r = OK(true, fmt.Sprintf("replication set up and verified in %s", rep.Took.Round(10*time.Millisecond)))
	default:
		r = OK(false, fmt.Sprintf("replication was already set up: nothing changed; verified in %s", rep.Took.Round(10*time.Millisecond)))
	}
	nodes := []any{}
	if rep != nil {
		for _, n := range rep.Nodes {
			changes := []any{}
			for _, c := range n.Changes {
				changes = append(changes, map[string]any{"action": c.GetAction(), "detail": c.GetDetail(), "changed": c.GetChanged()})
			}
			nodes = append(nodes, map[string]any{"node": n.Node, "changes": changes, "mycnf": n.MyCnf()})
		}
		r.Set("verified", rep.Verified)
	}
	return r.Set("nodes", nodes).Set("log", orEmpty(lines))
}

// member dials one node of the nodes option; the module's TLS options
// apply to every node unless the node sets its own.
func member(p *Params, i int, n map[string]any) (replication.Member, *agentclient.Conn, error) {
	get := func(k string) string {
		if v, ok := n[k]; ok && v != nil {
			s, err := scalar(v)
			if err == nil {
				return s
			}
		}
		return ""
	}
	name := get("name")
	if name == "" {
		return replication.Member{}, nil, optErr("nodes[%d] has no name", i)
	}
	o, err := connFrom(p, get("agent"))
	if err != nil {
		return replication.Member{}, nil, fmt.Errorf("nodes[%d] (%s): %w", i, name, err)
	}
	for k, dst := range map[string]*string{"ca": &o.CAFile, "cert": &o.CertFile, "key": &o.KeyFile, "token_file": &o.TokenFile, "server_name": &o.ServerName} {
		if v := get(k); v != "" {
			*dst = v
		}
	}
	if v, ok := n["insecure"]; ok && truthy(v) && !o.Insecure {
		// Drop the TLS files the environment supplied; keep given ones.
		o.Insecure, o.CAFile, o.CertFile, o.KeyFile = true, first(get("ca"), p.Str("ca")), first(get("cert"), p.Str("cert")), first(get("key"), p.Str("key"))
	} else if ok {
		o.Insecure = truthy(v)
	}
	host, _, _ := net.SplitHostPort(o.Addr)
	if v := get("db_host"); v != "" {
		host = v
	}
	port := 3306
	if v := get("db_port"); v != "" {
		port, err = strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			return replication.Member{}, nil, optErr("nodes[%d] (%s): db_port %q is not a port", i, name, v)
		}
	}
	c, err := agentclient.Dial(o)
	if err != nil {
		return replication.Member{}, nil, fmt.Errorf("nodes[%d] (%s): %w", i, name, err)
	}
	return replication.Member{Name: name, DBHost: host, DBPort: uint32(port), Agent: c.Agent}, c, nil
}

func serverFacts(f *agentv1.ServerFacts) map[string]any {
	return map[string]any{
		"version": f.GetVersion(), "server_id": f.GetServerId(), "gtid_domain_id": f.GetGtidDomainId(),
		"log_bin": f.GetLogBin(), "log_slave_updates": f.GetLogSlaveUpdates(), "binlog_format": f.GetBinlogFormat(),
		"read_only": f.GetReadOnly(), "gtid_binlog_pos": f.GetGtidBinlogPos(), "gtid_slave_pos": f.GetGtidSlavePos(),
		"gtid_current_pos": f.GetGtidCurrentPos(), "auto_increment_increment": f.GetAutoIncrementIncrement(),
		"auto_increment_offset": f.GetAutoIncrementOffset(),
	}
}

func connectionFacts(c *agentv1.ReplicationConnection, problem string) map[string]any {
	var behind any // null when MariaDB reports NULL
	if c.SecondsBehindMaster != nil {
		behind = c.GetSecondsBehindMaster()
	}
	return map[string]any{
		"connection_name": c.GetConnectionName(), "master_host": c.GetMasterHost(), "master_port": c.GetMasterPort(),
		"master_user": c.GetMasterUser(), "io_running": c.GetIoRunning(), "sql_running": c.GetSqlRunning(),
		"seconds_behind_master": behind, "last_io_errno": c.GetLastIoErrno(), "last_io_error": c.GetLastIoError(),
		"last_sql_errno": c.GetLastSqlErrno(), "last_sql_error": c.GetLastSqlError(), "using_gtid": c.GetUsingGtid(),
		"gtid_io_pos": c.GetGtidIoPos(), "gtid_slave_pos": c.GetGtidSlavePos(), "problem": problem,
	}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
