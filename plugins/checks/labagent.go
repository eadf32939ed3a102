//go:build !labfleet_lean

package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/labfleet/labfleet/internal/tlsfiles"
	"github.com/labfleet/labfleet/plugins/pluginkit"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

var checkLabagent = pluginkit.Spec{
	Name:    "check_labagent",
	Label:   "LABAGENT",
	Summary: "is the labagent up, serving, recent enough, and can it reach Docker?",
	Usage:   "-H HOST [-p PORT] [--cacert FILE] [--cert FILE --key FILE] [--token-file FILE] [--insecure] [-w RANGE] [-c RANGE] [--min-version V] [--cert-warning DAYS] [--cert-critical DAYS] [-t SECONDS] [-v]",
	Help: `Asks the agent's gRPC health service for labfleet.agent.v1.AgentService, then
GetInfo. CRITICAL when the agent cannot be reached, refuses the credentials,
is not SERVING, or cannot reach its Docker Engine; WARNING when it is older
than --min-version; the round-trip time of the health call is checked
against -w/-c (seconds) and is the 'rtt' perfdata.
Over TLS it also counts the days left on the agent's certificate (the one
that expires first in the chain it presented: its own or its CA's) and on
the client certificate --cert: WARNING below --cert-warning days (30),
CRITICAL below --cert-critical (7) and when expired; perfdata 'cert_days'
and 'client_cert_days'. A --key or --token-file that every user may read is
refused (UNKNOWN): chmod 600 it, or 640 for the nagios group.`,
	New: func() pluginkit.Plugin { return &labagentCheck{} },
}

type labagentCheck struct {
	agent              pluginkit.AgentFlags
	warn, crit         *pluginkit.RangeValue
	minVersion         string
	certWarn, certCrit float64
}

func (c *labagentCheck) Flags(fs *pflag.FlagSet) {
	c.agent.Register(fs)
	c.warn = pluginkit.RangeFlag(fs, "warning", "w", "1", "WARNING `RANGE` for the round-trip time in seconds")
	c.crit = pluginkit.RangeFlag(fs, "critical", "c", "5", "CRITICAL `RANGE` for the round-trip time in seconds")
	fs.StringVar(&c.minVersion, "min-version", "", "WARNING when the agent's version is older than `VERSION`")
	fs.Float64Var(&c.certWarn, "cert-warning", 30, "WARNING when the agent's or the client certificate has fewer than `DAYS` left")
	fs.Float64Var(&c.certCrit, "cert-critical", 7, "CRITICAL when the agent's or the client certificate has fewer than `DAYS` left")
}

func (c *labagentCheck) Run(ctx context.Context, r *pluginkit.Result) error {
	if c.minVersion != "" {
		if _, ok := compareVersions(c.minVersion, c.minVersion); !ok {
			return pluginkit.Usagef("--min-version %q is not a version such as v1.2.0", c.minVersion)
		}
	}
	if math.IsNaN(c.certWarn) || math.IsNaN(c.certCrit) || c.certCrit < 0 || c.certWarn < c.certCrit {
		return pluginkit.Usagef("--cert-warning %s --cert-critical %s: want days with warning >= critical >= 0, e.g. 30 and 7",
			pluginkit.FormatFloat(c.certWarn), pluginkit.FormatFloat(c.certCrit))
	}
	// The client certificate is read before dialling: an expired one
	// cannot connect, and is itself what needs fixing.
	var client *x509.Certificate
	if c.agent.CertFile != "" && !c.agent.Insecure {
		if certs, err := tlsfiles.LoadCertificates(c.agent.CertFile); err == nil {
			client = certs[0]
			if time.Now().After(client.NotAfter) {
				c.certDays(r, "client_cert_days", fmt.Sprintf("client certificate %s (%q)", c.agent.CertFile, client.Subject.CommonName), client)
				return nil
			}
		}
	}
	conn, err := c.agent.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	addr := c.agent.Addr()

	r.Stage("checking the gRPC health of the agent at %s", addr)
	start := time.Now()
	var p peer.Peer
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: agentv1.AgentService_ServiceDesc.ServiceName}, grpc.Peer(&p))
	rtt := time.Since(start)
	if err != nil {
		pluginkit.AgentFailure(ctx, r, conn, err)
		return nil
	}
	r.Perf(pluginkit.Perf{Label: "rtt", Value: rtt.Seconds(), UOM: "s", Warn: c.warn.Range(), Crit: c.crit.Range(), Min: pluginkit.F(0)})
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		if cert, what := soonestExpiry(ti.State); cert != nil {
			c.certDays(r, "cert_days", what, cert)
		}
	}
	if client != nil {
		c.certDays(r, "client_cert_days", fmt.Sprintf("client certificate %q", client.Subject.CommonName), client)
	}
	if st := h.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		r.Critical("agent at %s is %s", addr, st)
		return nil
	}

	r.Stage("calling GetInfo on the agent at %s", addr)
	info, err := conn.Agent.GetInfo(ctx, &agentv1.GetInfoRequest{})
	if err != nil {
		pluginkit.AgentFailure(ctx, r, conn, err)
		return nil
	}
	r.Perf(pluginkit.Perf{Label: "uptime", Value: info.GetUptime().AsDuration().Seconds(), UOM: "s", Min: pluginkit.F(0)})

	node, ver := info.GetNodeName(), info.GetAgentVersion()
	d := info.GetDocker()
	docker := "Docker " + d.GetVersion() + " reachable"
	if !d.GetReachable() {
		docker = "Docker Engine NOT reachable"
		r.Critical("agent %s cannot reach its Docker Engine: %s", node, oneLine(d.GetError()))
	}
	switch s := pluginkit.Evaluate(rtt.Seconds(), c.warn.Range(), c.crit.Range()); s {
	case pluginkit.OK:
		r.OK("agent %s %s SERVING, %s, rtt %s", node, ver, docker, human(rtt))
	default:
		r.Add(s, "agent %s round trip %s breaches %s", node, human(rtt), breach(s, "-w "+c.warn.String(), "-c "+c.crit.String()))
	}
	if c.minVersion != "" {
		switch cmp, ok := compareVersions(ver, c.minVersion); {
		case !ok:
			r.Warning("agent %s reports version %q, which cannot be compared with --min-version %s", node, ver, c.minVersion)
		case cmp < 0:
			r.Warning("agent %s version %s is older than --min-version %s", node, ver, c.minVersion)
		}
	}

	r.Long("agent %s (host %s) version %s, up %s, publishes on %s", node, info.GetHostname(), ver,
		human(info.GetUptime().AsDuration()), info.GetPublishIp())
	if d.GetReachable() {
		r.Long("Docker Engine %s (API %s) reachable", d.GetVersion(), d.GetApiVersion())
	} else {
		r.Long("Docker Engine not reachable: %s", oneLine(d.GetError()))
	}
	if m := info.GetMariadb(); m.GetConfigured() {
		if m.GetReachable() {
			r.Long("MariaDB %s at %s reachable", m.GetVersion(), m.GetAddress())
		} else {
			r.Long("MariaDB at %s not reachable: %s", m.GetAddress(), oneLine(m.GetError()))
		}
	}
	r.Verbose(1, "capabilities: %s; the agent sees this caller as %q", strings.Join(info.GetCapabilities(), ", "), info.GetCaller())
	return nil
}

// soonestExpiry returns the certificate of the agent's chain (as verified,
// else as presented) that expires first, and what to call it.
func soonestExpiry(st tls.ConnectionState) (*x509.Certificate, string) {
	chain := st.PeerCertificates
	if len(st.VerifiedChains) > 0 {
		chain = st.VerifiedChains[0]
	}
	var soonest *x509.Certificate
	what := ""
	for i, cert := range chain {
		if soonest == nil || cert.NotAfter.Before(soonest.NotAfter) {
			soonest = cert
			what = fmt.Sprintf("agent certificate %q", cert.Subject.CommonName)
			if i > 0 {
				what = fmt.Sprintf("CA certificate %q of the agent's chain", cert.Subject.CommonName)
			}
		}
	}
	return soonest, what
}

// certDays records the days cert has left: perfdata label, a long-output
// line, and a finding when fewer than the thresholds (or none) are left.
func (c *labagentCheck) certDays(r *pluginkit.Result, label, what string, cert *x509.Certificate) {
	days := time.Until(cert.NotAfter).Hours() / 24
	r.Perf(pluginkit.Perf{Label: label, Value: math.Floor(days), Warn: &pluginkit.Range{Start: c.certWarn, End: inf},
		Crit: &pluginkit.Range{Start: c.certCrit, End: inf}})
	until := cert.NotAfter.UTC().Format("2006-01-02 15:04 MST")
	text := fmt.Sprintf("%s expires in %d days (%s)", what, int(math.Floor(days)), until)
	if days < 0 {
		text = fmt.Sprintf("%s expired on %s; renew it (labcontroller certs renew)", what, until)
	}
	r.Long("%s", text)
	switch {
	case days < 0:
		r.Critical("%s", text)
	case days < c.certCrit:
		r.Critical("%s, fewer than %s", text, pluginkit.FormatFloat(c.certCrit))
	case days < c.certWarn:
		r.Warning("%s, fewer than %s", text, pluginkit.FormatFloat(c.certWarn))
	}
}
