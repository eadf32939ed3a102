//go:build !labfleet_lean

package checks

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/labfleet/labfleet/internal/gtid"
	"github.com/labfleet/labfleet/plugins/pluginkit"
)

// This file holds check_replication's rules as plain functions of what the
// server reported, so that they are tested without a server.

// connSpec is one --connection NAME[:WARN:CRIT].
type connSpec struct {
	name string
	// warn and crit replace -w and -c for this connection; nil keeps them.
	warn, crit *pluginkit.Range
	text       string // as given, for messages
}

// parseConnSpec reads NAME, or NAME:WARN:CRIT with WARN and CRIT in seconds
// (either may be left empty to keep -w or -c). The name is everything
// before the last two colons, so a name that holds a colon takes the
// second form ("a:b::").
func parseConnSpec(s string) (connSpec, error) {
	spec := connSpec{name: s, text: s}
	if !strings.Contains(s, ":") {
		return spec, nil
	}
	last := strings.LastIndex(s, ":")
	mid := strings.LastIndex(s[:last], ":")
	if mid < 0 {
		return connSpec{}, pluginkit.Usagef("--connection %q: want NAME or NAME:WARN:CRIT (seconds), e.g. node1:60:300", s)
	}
	spec.name = s[:mid]
	for _, f := range []struct {
		text string
		dst  **pluginkit.Range
		what string
	}{{s[mid+1 : last], &spec.warn, "WARN"}, {s[last+1:], &spec.crit, "CRIT"}} {
		if f.text == "" {
			continue
		}
		v, err := strconv.ParseFloat(f.text, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return connSpec{}, pluginkit.Usagef("--connection %q: %s %q is not a number of seconds (want NAME:WARN:CRIT, e.g. node1:60:300)", s, f.what, f.text)
		}
		// "60" as a range alerts above 60, as -w 60 does.
		rg := pluginkit.MustRange(f.text)
		*f.dst = &rg
	}
	return spec, nil
}

// parseConnSpecs parses every --connection and refuses a name given twice.
func parseConnSpecs(values []string) ([]connSpec, error) {
	var out []connSpec
	for _, v := range values {
		s, err := parseConnSpec(v)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(o connSpec) bool { return o.name == s.name }) {
			return nil, pluginkit.Usagef("--connection %q: connection '%s' is named twice", v, s.name)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseDomains reads --legacy-domain: domain ids, repeatable or comma
// separated; "" or "none" means no domain.
func parseDomains(values []string) ([]uint32, error) {
	var out []uint32
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" || f == "none" {
				continue
			}
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return nil, pluginkit.Usagef("--legacy-domain %q: %q is not a GTID domain id (an unsigned number)", v, f)
			}
			out = append(out, uint32(n))
		}
	}
	return out, nil
}

// lagBeyondDelay is the lag the thresholds judge: Seconds_Behind_Master
// less the connection's MASTER_DELAY (SQL_Delay), never below 0. A delayed
// connection is that far behind by design: MariaDB counts the wait for
// the delay in Seconds_Behind_Master.
func lagBeyondDelay(secondsBehind, sqlDelay int64) int64 {
	return max(secondsBehind-max(sqlDelay, 0), 0)
}

// lagText describes a lag for people, with the delay when there is one.
func lagText(secondsBehind *int64, sqlDelay int64) string {
	switch {
	case secondsBehind == nil:
		return "NULL"
	case sqlDelay <= 0:
		return fmt.Sprintf("%ds", *secondsBehind)
	}
	if beyond := lagBeyondDelay(*secondsBehind, sqlDelay); beyond > 0 {
		return fmt.Sprintf("%ds, %ds beyond MASTER_DELAY %ds", *secondsBehind, beyond, sqlDelay)
	}
	return fmt.Sprintf("%ds, within MASTER_DELAY %ds", *secondsBehind, sqlDelay)
}

// trxRef is what a connection's applied position (Gtid_Slave_Pos) is
// counted against for the lag in transactions.
type trxRef struct {
	pos gtid.List
	// domain limits the count to the master's domain; all of pos's
	// domains count when it is nil.
	domain *uint32
	// master is the master's address; "" when pos is what the connection
	// received (Gtid_IO_Pos).
	master string
}

// behind counts the transactions of the reference that applied lacks.
func (ref trxRef) behind(applied gtid.List) uint64 {
	if ref.domain != nil {
		return gtid.Behind(applied, ref.pos, *ref.domain)
	}
	return gtid.Behind(applied, ref.pos)
}

// describe says what the count is, e.g. "1 transaction behind the master"
// or "3 transactions received but not applied".
func (ref trxRef) describe(n uint64) string {
	if ref.master != "" {
		return fmt.Sprintf("%s behind the master", plural(int(n), "transaction"))
	}
	return fmt.Sprintf("%s received but not applied", plural(int(n), "transaction"))
}

// monitorPrivilege names the privilege SHOW ALL SLAVES STATUS needs on the
// given MariaDB version: SLAVE MONITOR (alias REPLICA MONITOR) since 10.5.9,
// REPLICATION SLAVE ADMIN in 10.5.0-10.5.8, REPLICATION CLIENT before.
func monitorPrivilege(version string) string {
	nums, _, ok := splitVersion(strings.SplitN(version, "-", 2)[0])
	switch {
	case !ok || len(nums) < 2:
		return "SLAVE MONITOR"
	case nums[0] > 10 || (nums[0] == 10 && nums[1] > 5) || (nums[0] == 10 && nums[1] == 5 && at(nums, 2) >= 9):
		return "SLAVE MONITOR"
	case nums[0] == 10 && nums[1] == 5:
		return "REPLICATION SLAVE ADMIN"
	}
	return "REPLICATION CLIENT"
}

// quoteAccount turns CURRENT_USER()'s user@host into 'user'@'host', as GRANT
// takes it.
func quoteAccount(current string) string {
	i := strings.LastIndex(current, "@")
	if i < 0 {
		return "'" + current + "'"
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	return q(current[:i]) + "@" + q(current[i+1:])
}

// sameEndpoint reports whether host:port names the endpoint a connection
// replicates from (Master_Host, Master_Port), comparing IPs by value and
// names without case.
func sameEndpoint(host string, port int, masterHost string, masterPort int) bool {
	if port != masterPort {
		return false
	}
	a, b := net.ParseIP(host), net.ParseIP(masterHost)
	if a != nil && b != nil {
		return a.Equal(b)
	}
	return strings.EqualFold(host, masterHost)
}

// splitHostPort reads --master HOST[:PORT] (port 3306 when left out; an
// IPv6 address with a port in brackets).
func splitHostPort(s string) (string, int, error) {
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Count(s, ":") == 1 || s == "" || strings.HasPrefix(s, "[") {
			return "", 0, pluginkit.Usagef("--master %q: want HOST or HOST:PORT", s)
		}
		return strings.Trim(s, "[]"), 3306, nil
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return "", 0, pluginkit.Usagef("--master %q: want HOST or HOST:PORT", s)
	}
	return host, port, nil
}
