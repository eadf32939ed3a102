package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/internal/pki"
)

func newCertsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "certs",
		Short: "Make and renew the certificates agents, the controller and the plugins use for mTLS",
		Example: `  labcontroller certs init --dir certs --hosts node1=127.0.0.11,node2=127.0.0.12
  labcontroller certs renew --dir certs`,
	}
	c.AddCommand(newCertsInitCmd(), newCertsRenewCmd())
	return c
}

func newCertsInitCmd() *cobra.Command {
	var (
		dir, hosts, client, monitoring string
		days                           int
		force                          bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a CA, a server certificate per node and the deploy and monitoring client certificates",
		Long: `certs init writes into --dir:
  ca.crt, ca.key            the CA (keep ca.key off the nodes)
  NODE.crt, NODE.key        one server certificate per node, with the node name and
                            its addresses as subject alternative names
  CLIENT.crt, CLIENT.key    labcontroller's client certificate (role deploy: may call
                            every RPC; --client-name, default labcontroller)
  MON.crt, MON.key          the monitoring client certificate for the Nagios plugins
                            (role monitoring: read-only RPCs; --monitoring-name,
                            default nagios)
The role is written into each client certificate as the URI labfleet://role/ROLE.
Keys are written 0600. Existing files are never overwritten without --force.`,
		Example: `  labcontroller certs init --dir certs --hosts node1=127.0.0.11,node2=127.0.0.12
  labcontroller certs init --dir /etc/labfleet --hosts node1=192.168.6.3+node1.lab --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErr("certs init needs --dir DIR")
			}
			if hosts == "" {
				return usageErr("certs init needs --hosts NAME=ADDR[,NAME=ADDR...], e.g. node1=127.0.0.11,node2=127.0.0.12")
			}
			hs, err := pki.ParseHosts(hosts)
			if err != nil {
				return usageErr("--hosts: %v", err)
			}
			if days < 1 {
				return usageErr("--days %d: must be at least 1", days)
			}
			res, err := pki.Init(pki.Options{
				Dir: dir, Hosts: hs, ClientName: client, MonitoringName: monitoring, Force: force,
				Validity: time.Duration(days) * 24 * time.Hour,
			})
			if errors.Is(err, pki.ErrExists) {
				return usageErr("%v", err)
			}
			if err != nil {
				return failed{msg: err.Error()}
			}
			for _, f := range res.Files {
				fmt.Fprintln(cmd.OutOrStdout(), "wrote", f)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory to write the files into (created 0700)")
	f.StringVar(&hosts, "hosts", "", "nodes as NAME=ADDR[+ADDR...], comma separated")
	f.StringVar(&client, "client-name", pki.DefaultClientName, "common name of labcontroller's client certificate (role deploy)")
	f.StringVar(&monitoring, "monitoring-name", pki.DefaultMonitoringName, "common name of the monitoring client certificate (role monitoring)")
	f.IntVar(&days, "days", 825, "validity of the node and client certificates in days")
	f.BoolVar(&force, "force", false, "replace existing files")
	return cmd
}

func newCertsRenewCmd() *cobra.Command {
	var (
		dir, monitoring string
		days            int
		newKeys         bool
	)
	cmd := &cobra.Command{
		Use:   "renew",
		Short: "Re-issue the node and client certificates in --dir from the CA there",
		Long: `certs renew re-issues every node and client certificate in --dir from the CA that
certs init made there (ca.crt and ca.key), with the same names, addresses and role and a
new expiry (--days, never past the CA's own). The CA is not changed, so agents and callers
keep trusting each other while the new files are rolled out. Each certificate keeps its
key unless --new-keys is given, so without it only the .crt files change.

A directory made before roles existed gets the deploy role written into its client
certificate and a monitoring certificate (--monitoring-name, default nagios) besides.
Certificates signed by another CA are left alone and listed.

Then copy each node its NODE.crt (and NODE.key with --new-keys) and send its labagent
SIGHUP (systemctl reload labagent): it loads the new files without a restart, and a bad
file leaves it serving with the old ones. Renew refuses when ca.crt or ca.key is missing
or the CA has expired; then only certs init --force (a new CA for every node) helps.`,
		Example: `  labcontroller certs renew --dir certs
  labcontroller certs renew --dir /etc/labfleet --days 365 --new-keys`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErr("certs renew needs --dir DIR (where certs init wrote ca.crt and ca.key)")
			}
			if days < 1 {
				return usageErr("--days %d: must be at least 1", days)
			}
			res, err := pki.Renew(pki.RenewOptions{Dir: dir, MonitoringName: monitoring, NewKeys: newKeys,
				Validity: time.Duration(days) * 24 * time.Hour})
			if errors.Is(err, pki.ErrNoCA) || errors.Is(err, pki.ErrInvalidOptions) || errors.Is(err, pki.ErrExists) {
				return usageErr("%v", err)
			}
			if err != nil {
				return failed{msg: err.Error()}
			}
			out := cmd.OutOrStdout()
			for _, r := range res.Renewed {
				verb, what := "renewed", r.Kind+" "+r.Name
				if r.Issued {
					verb = "issued"
				}
				if r.Role != "" {
					what += ", role " + r.Role
				}
				fmt.Fprintf(out, "%s %s (%s, until %s)\n", verb, r.Path, what, r.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
				if r.KeyPath != "" {
					fmt.Fprintln(out, "wrote", r.KeyPath)
				}
			}
			for _, s := range res.Skipped {
				fmt.Fprintln(out, "skipped", s)
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "labcontroller: warning:", w)
			}
			fmt.Fprintf(out, "Next: copy each node its .crt%s from %s and run `systemctl reload labagent` (SIGHUP) there.\n",
				map[bool]string{true: " and .key", false: ""}[newKeys], filepath.Clean(dir))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory holding ca.crt, ca.key and the certificates to renew")
	f.StringVar(&monitoring, "monitoring-name", pki.DefaultMonitoringName, "name of the monitoring certificate to issue when --dir has none")
	f.IntVar(&days, "days", 825, "validity of the renewed certificates in days")
	f.BoolVar(&newKeys, "new-keys", false, "make a new key for every certificate instead of keeping each one's")
	return cmd
}
