package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/controller/lock"
	"github.com/labfleet/labfleet/internal/agentclient"
	"github.com/labfleet/labfleet/internal/fleet"
	"github.com/labfleet/labfleet/internal/replication"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

func newReplicationCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "replication",
		Short:   "Set up and report MariaDB replication between the nodes",
		Example: "  labcontroller -i inventory.ini replication setup\n  labcontroller -i inventory.ini replication status --max-lag 30s",
	}
	c.AddCommand(newReplicationSetupCmd(g), newReplicationStatusCmd(g), newReplicationCheckCmd(g))
	return c
}

func newReplicationSetupCmd(g *globals) *cobra.Command {
	var (
		mode, user, host, pwFile, stateDir, seedFrom, startAt string
		timeout, lockWait                                     time.Duration
		dryRun, force                                         bool
	)
	cmd := &cobra.Command{
		Use:   "setup [--mode master-master|primary-replica]",
		Short: "Set up GTID replication between the nodes' MariaDB in one re-runnable command",
		Long: `setup replaces the lab's 14 manual steps. Through each node's agent it:
  1. checks every node first (reachable, log_bin and log_slave_updates on, unique
     server_id) and changes nothing if one is not ready, printing the my.cnf lines to add;
  2. sets a distinct gtid_domain_id and, for master-master, auto_increment_increment and
     a distinct auto_increment_offset per node (SET GLOBAL; the my.cnf lines that keep
     them across a restart are printed);
  3. creates the replication account on each node (password from --repl-password-file,
     or generated once and kept 0600 in the controller's state directory);
  4. points a named GTID connection (CHANGE MASTER 'peer' ... MASTER_USE_GTID=slave_pos)
     at every other node (master-master) or at the first node (primary-replica), starts it,
     waits until both threads run and proves rows flow with a marker row per node.
Before it changes anything, setup compares every node's GTID history with its peers'. A
node that has never applied a peer's history (every server has some: its own accounts
and databases, written before replication) would replay it and stop with errors such as
1396 (CREATE USER failed). Setup refuses that, naming the node and the GTID ranges, unless
one of these says what to do:
  --seed-from NODE      the other nodes first get NODE's databases through the agents
                        (mariadb-dump --single-transaction --gtid, loaded outside the binlog,
                        gtid_slave_pos set to the dump's position), so replication starts right
                        after the dump. They must hold no databases of their own (system schemas
                        and locally created accounts are fine), or --force.
  --start-at current    every new connection starts at its peer's current position, as the
                        manual procedure did with SHOW MASTER STATUS, skipping the history
                        before it. Allowed only when the nodes' own databases are identical,
                        which setup proves first with CHECKSUM TABLE, naming any table that differs.
Re-running on a healthy set changes nothing and says so; on a broken one (a stopped
thread, a changed password, a missing connection) it repairs it. It never runs
RESET MASTER or drops data. A node's MariaDB is reached by the others at the host var
mariadb_host (default ansible_host) and mariadb_port (default 3306).`,
		Example: `  labcontroller -i inventory.ini replication setup
  labcontroller -i inventory.ini replication setup --dry-run
  labcontroller -i inventory.ini replication setup --seed-from node1
  labcontroller -i inventory.ini replication setup --start-at current
  labcontroller -i inventory.ini replication setup --mode primary-replica --repl-password-file /etc/labfleet/repl.pass`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if mode != replication.MasterMaster && mode != replication.PrimaryReplica {
				return usageErr("--mode %q: use master-master or primary-replica", mode)
			}
			if startAt != "" && startAt != replication.StartAtCurrent {
				return usageErr("--start-at %q: the only choice is %q (start each new connection at its peer's current position)", startAt, replication.StartAtCurrent)
			}
			if startAt != "" && seedFrom != "" {
				return usageErr("--start-at and --seed-from are two different ways forward: choose one")
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			if stateDir == "" {
				stateDir = lock.DefaultDir()
			}
			pw, err := replPassword(pwFile, filepath.Join(stateDir, "replication", g.group+".password"))
			if err != nil {
				return err
			}
			members, closeAll, err := members(nodes)
			if err != nil {
				return err
			}
			defer closeAll()
			out := &masker{w: cmd.OutOrStdout(), secrets: []string{pw}}
			t0 := time.Now()
			rep, err := replication.Setup(cmd.Context(), members, replication.Options{
				Mode: mode, ReplUser: user, ReplPassword: pw, ReplHost: host, Timeout: timeout, DryRun: dryRun,
				SeedFrom: seedFrom, Force: force, StartAt: startAt, LockWait: lockWait,
				Out: func(node, msg string) {
					for i, l := range escLines(msg) {
						if i == 0 {
							fmt.Fprintf(out, "[%s %5.1fs] %s\n", esc(node), time.Since(t0).Seconds(), l)
						} else {
							fmt.Fprintf(out, "    %s\n", l)
						}
					}
				},
			})
			if rep != nil && len(rep.Nodes) > 0 {
				fmt.Fprintln(out, "\nTo keep these settings across a MariaDB restart, put them in each node's my.cnf:")
				for _, n := range rep.Nodes {
					fmt.Fprintf(out, "\n# %s\n", esc(n.Node))
					for _, l := range escLines(n.MyCnf()) {
						fmt.Fprintln(out, l)
					}
				}
			}
			if err != nil {
				if errors.Is(err, replication.ErrPreflight) {
					return failed{msg: mask(escText(err.Error()), []string{pw})}
				}
				return failed{msg: mask("replication setup failed: "+escText(err.Error())+"\n(re-running setup repairs a partial setup)", []string{pw})}
			}
			switch {
			case dryRun:
				fmt.Fprintf(out, "\ndry run: nothing was changed\n")
			case !rep.Changed:
				fmt.Fprintf(out, "\nreplication was already set up: nothing changed; verified in %s\n", rep.Took.Round(10*time.Millisecond))
			default:
				fmt.Fprintf(out, "\nreplication set up and verified in %s\n", rep.Took.Round(10*time.Millisecond))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&mode, "mode", replication.MasterMaster, "master-master (every node replicates from every other) or primary-replica (from the first node)")
	f.StringVar(&user, "repl-user", "repl", "replication account name")
	f.StringVar(&host, "repl-host", "%", "host part of the replication account, e.g. 192.168.6.%")
	f.StringVar(&pwFile, "repl-password-file", "", "file holding the replication password (default: generated and kept in the state directory)")
	f.StringVar(&stateDir, "state-dir", "", "controller state directory (default $LABFLEET_STATE_DIR, /var/lib/labfleet or ~/.local/state/labfleet)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the threads to run and the marker rows to arrive")
	f.BoolVar(&dryRun, "dry-run", false, "report what would change, changing nothing")
	f.StringVar(&seedFrom, "seed-from", "", "load this node's databases (mariadb-dump --gtid) into the other nodes that do not replicate from it yet; they must be empty")
	f.BoolVar(&force, "force", false, "with --seed-from: load even into a node that has databases; those the dump contains are dropped and replaced")
	f.StringVar(&startAt, "start-at", "", "\"current\": start new connections at the peer's current GTID position, skipping its earlier history (the data must be identical; checked with CHECKSUM TABLE)")
	f.DurationVar(&lockWait, "lock-wait", 10*time.Second, "with --start-at current: how long a checksum waits for a locked table")
	return cmd
}

func newReplicationCheckCmd(g *globals) *cobra.Command {
	var lockWait time.Duration
	var attempts int
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Compare the nodes' data and GTID histories; exit 0 consistent, 1 diverged, 2 undetermined",
		Long: `check changes nothing. Through each node's agent it checksums every table of the
nodes' own databases (CHECKSUM TABLE and row counts) and compares them, names every table
that differs or is missing on a node, looks for errant transactions (a node writing in a
domain another node owns, or ahead of the domain's owner) and reports each connection's
lag in transactions (what its master wrote in its own domain that the node has not applied).
While replication is busy it retries (--attempts), so a row still on its way is not reported
as a difference; the result says whether the snapshot settled.
Exit 0: consistent. 1: diverged (tables or GTIDs named). 2: a node could not be checked.`,
		Example: `  labcontroller -i inventory.ini replication check
  labcontroller -i inventory.ini replication check -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			members, closeAll, err := members(nodes)
			if err != nil {
				return err
			}
			defer closeAll()
			rep, err := replication.Check(cmd.Context(), members, replication.CheckOptions{Attempts: attempts, LockWait: lockWait})
			if err != nil {
				return undetermined{err: fmt.Errorf("replication check: %s", escText(err.Error()))}
			}
			return printCheck(cmd, g.output, rep)
		},
	}
	cmd.Flags().DurationVar(&lockWait, "lock-wait", 10*time.Second, "how long a checksum waits for a table another session has locked")
	cmd.Flags().IntVar(&attempts, "attempts", 5, "snapshots to take while replication is busy before reporting what differs")
	return cmd
}

func printCheck(cmd *cobra.Command, format string, rep *replication.CheckReport) error {
	out := cmd.OutOrStdout()
	if format == "json" {
		writeJSON(out, rep)
	} else {
		fmt.Fprintf(out, "nodes: %s; %d tables compared", esc(strings.Join(rep.Nodes, ", ")), rep.Tables)
		if !rep.Settled {
			fmt.Fprint(out, " (replication was busy: a difference may still be on its way; re-run to confirm)")
		}
		fmt.Fprintln(out)
		for _, d := range rep.Diffs {
			fmt.Fprintf(out, "DIFFERS   %s\n", esc(fmt.Sprint(d)))
		}
		for _, u := range rep.Unreadable {
			fmt.Fprintf(out, "UNCHECKED %s\n", esc(fmt.Sprint(u)))
		}
		for _, e := range rep.Errant {
			fmt.Fprintf(out, "ERRANT    %s\n", esc(fmt.Sprint(e)))
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tCONNECTION\tRUNNING\tBEHIND_TRX\tBEHIND_SECONDS")
		for _, l := range rep.Lag {
			secs := "NULL"
			if l.Seconds != nil {
				secs = fmt.Sprint(*l.Seconds)
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\n", esc(l.Node), esc(l.Connection), l.Running, l.Transactions, secs)
		}
		tw.Flush()
	}
	var bad []string
	if n := len(rep.Diffs); n > 0 {
		bad = append(bad, fmt.Sprintf("%d table(s) differ", n))
	}
	if n := len(rep.Errant); n > 0 {
		bad = append(bad, fmt.Sprintf("%d errant transaction(s)", n))
	}
	if len(bad) > 0 {
		return failed{msg: "replication check: diverged: " + strings.Join(bad, ", ")}
	}
	if len(rep.Unreadable) > 0 {
		return undetermined{err: fmt.Errorf("replication check: %d table(s) could not be checksummed (see UNCHECKED)", len(rep.Unreadable))}
	}
	if format != "json" {
		fmt.Fprintln(out, "consistent")
	}
	return nil
}

// replPassword reads the password file, or the stored one, or makes one.
func replPassword(file, stored string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usageErr("--repl-password-file: %v", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", usageErr("--repl-password-file %s is empty", file)
		}
		return pw, nil
	}
	if b, err := os.ReadFile(stored); err == nil && len(b) > 0 {
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	raw := make([]byte, 18)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(stored), 0o700); err != nil {
		return "", fmt.Errorf("cannot store the generated replication password: %w", err)
	}
	if err := os.WriteFile(stored, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("cannot store the generated replication password: %w", err)
	}
	return pw, nil
}

// members dials every node's agent and works out where its MariaDB is.
func members(nodes []fleet.Node) ([]replication.Member, func(), error) {
	var conns []*agentclient.Conn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	var out []replication.Member
	for _, n := range nodes {
		c, err := agentclient.Dial(n.Conn)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns = append(conns, c)
		host, _, _ := net.SplitHostPort(n.Addr()) // the agent's host, i.e. ansible_host
		if v, ok := n.Vars["mariadb_host"]; ok && fmt.Sprint(v) != "" {
			host = fmt.Sprint(v)
		}
		port := uint32(3306)
		if v, ok := n.Vars["mariadb_port"]; ok {
			p, err := strconv.Atoi(fmt.Sprint(v))
			if err != nil || p < 1 || p > 65535 {
				closeAll()
				return nil, nil, usageErr("host %s: mariadb_port=%v is not a port", n.Name, v)
			}
			port = uint32(p)
		}
		out = append(out, replication.Member{Name: n.Name, DBHost: host, DBPort: port, Agent: c.Agent})
	}
	return out, closeAll, nil
}

func newReplicationStatusCmd(g *globals) *cobra.Command {
	var maxLag time.Duration
	cmd := &cobra.Command{
		Use:   "status [--max-lag 60s]",
		Short: "Show every node's replication connections; exit 1 when one is broken or lags",
		Long: `status shows per node its server facts and every named connection of SHOW ALL SLAVES
STATUS: both threads, seconds behind, GTID positions and the last errors with what to do
about them. It exits 1 when any thread is not running or a lag exceeds --max-lag.`,
		Example: `  labcontroller -i inventory.ini replication status
  labcontroller -i inventory.ini replication status --max-lag 30s -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g); err != nil {
				return err
			}
			nodes, err := g.nodes()
			if err != nil {
				return err
			}
			res := fleet.EachWithin(cmd.Context(), nodes, g.timeout, func(ctx context.Context, c *agentclient.Conn) (*agentv1.GetReplicationStatusResponse, error) {
				return c.Agent.GetReplicationStatus(ctx, &agentv1.GetReplicationStatusRequest{})
			})
			return printReplication(cmd, g.output, maxLag, res)
		},
	}
	cmd.Flags().DurationVar(&maxLag, "max-lag", 5*time.Minute, "exit 1 when a connection is further behind than this")
	return cmd
}

func printReplication(cmd *cobra.Command, format string, maxLag time.Duration, res []fleet.Result[*agentv1.GetReplicationStatusResponse]) error {
	out := cmd.OutOrStdout()
	var bad []string
	type row struct {
		Node   string                                `json:"node"`
		Error  string                                `json:"error,omitempty"`
		Status *agentv1.GetReplicationStatusResponse `json:"status,omitempty"`
	}
	var rows []row
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSERVER_ID\tDOMAIN\tCONNECTION\tMASTER\tIO\tSQL\tBEHIND\tGTID_SLAVE_POS\tPROBLEM")
	for _, r := range res {
		if r.Err != nil {
			msg := r.Err.Error()
			bad = append(bad, r.Node.Name+": "+esc(msg))
			rows = append(rows, row{Node: r.Node.Name, Error: msg})
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\tUNREACHABLE\n", r.Node.Name)
			continue
		}
		rows = append(rows, row{Node: r.Node.Name, Status: r.Value})
		f := r.Value.GetServer()
		if len(r.Value.GetConnections()) == 0 {
			fmt.Fprintf(tw, "%s\t%d\t%d\t(none)\t-\t-\t-\t-\t-\tno replication connection\n", r.Node.Name, f.GetServerId(), f.GetGtidDomainId())
			bad = append(bad, r.Node.Name+": no replication connection")
		}
		for _, c := range r.Value.GetConnections() {
			behind, problem := "NULL", ""
			if c.SecondsBehindMaster != nil {
				behind = fmt.Sprintf("%ds", c.GetSecondsBehindMaster())
				if maxLag > 0 && time.Duration(c.GetSecondsBehindMaster())*time.Second > maxLag {
					problem = fmt.Sprintf("lag over %s", maxLag)
				}
			}
			if c.GetIoRunning() != "Yes" || c.GetSqlRunning() != "Yes" || c.GetLastIoErrno() != 0 || c.GetLastSqlErrno() != 0 {
				problem = replication.Explain(c)
			}
			if problem != "" {
				bad = append(bad, r.Node.Name+": "+esc(problem))
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s:%d\t%s\t%s\t%s\t%s\t%s\n", r.Node.Name, f.GetServerId(), f.GetGtidDomainId(), esc(c.GetConnectionName()),
				esc(c.GetMasterHost()), c.GetMasterPort(), esc(c.GetIoRunning()), esc(c.GetSqlRunning()), behind, esc(orDash(c.GetGtidSlavePos())), esc(orDash(shortProblem(problem))))
		}
	}
	if format == "json" {
		writeJSON(out, rows)
	} else {
		tw.Flush()
	}
	if len(bad) > 0 {
		return failed{msg: strings.Join(bad, "\n")}
	}
	return nil
}

func shortProblem(p string) string {
	if i := strings.Index(p, "; "); i >= 0 {
		return strings.TrimSpace(p[i+2:])
	}
	return p
}
