package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/labfleet/labfleet/internal/pki"
)

func newCertsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:     "certs",
		Short:   "Make the certificates agents, the controller and the plugins use for mTLS",
		Example: `  labcontroller certs init --dir certs --hosts node1=127.0.0.11,node2=127.0.0.12`,
	}
	c.AddCommand(newCertsInitCmd())
	return c
}

func newCertsInitCmd() *cobra.Command {
	var (
		dir, hosts, client string
		days               int
		force              bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a CA, a server certificate per node and a client certificate",
		Long: `certs init writes into --dir:
  ca.crt, ca.key            the CA (keep ca.key off the nodes)
  NODE.crt, NODE.key        one server certificate per node, with the node name and
                            its addresses as subject alternative names
  CLIENT.crt, CLIENT.key    one client certificate for labcontroller and the plugins
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
				Dir: dir, Hosts: hs, ClientName: client, Force: force,
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
	f.StringVar(&client, "client-name", "labcontroller", "common name of the client certificate")
	f.IntVar(&days, "days", 825, "validity of the node and client certificates in days")
	f.BoolVar(&force, "force", false, "replace existing files")
	return cmd
}
