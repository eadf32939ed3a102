//go:build !labfleet_lean

package checks

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/labfleet/labfleet/internal/haproxy"
	"github.com/labfleet/labfleet/plugins/pluginkit"
)

var checkHAProxy = pluginkit.Spec{
	Name:    "check_haproxy",
	Label:   "HAPROXY",
	Summary: "usable servers per HAProxy backend, active and backup, naming those HAProxy cannot use",
	Usage:   "(--socket ADDR | --csv-url URL) [--backend NAME] [-w RANGE] [-c RANGE]",
	Help: `Reads HAProxy's statistics from the admin socket (--socket: a unix socket path
or HOST:PORT; runs "show stat") or from the stats page (--csv-url, the URL
ending in ;csv). For --backend (default: every backend) it counts the servers
HAProxy may use: UP (including "UP 1/2", going down, and "no check") with a
weight above 0. A server in DRAIN, MAINT, DOWN or NOLB, or held at weight 0
(an agent-check answering "up 0%"), is not usable and is named, with the
agent-check's comment when it has one. The count is checked against -w/-c
(defaults -w 2: -c 1:, WARNING below two, CRITICAL with none).
A backend with no usable server is CRITICAL whatever -c says. A backup
server serving because no active server is usable is WARNING ("failover:
node2 serving"), unless every active server is merely in DRAIN (a rollout
or "labcontroller node drain"): -w/-c alone judge that.
CRITICAL when the socket or page cannot be read or the backend does not
exist. Perfdata per backend: usable servers (BACKEND_up, the one -w/-c
apply to), current sessions, and usable active and backup servers
(BACKEND_active_usable, BACKEND_backup_usable).`,
	New: func() pluginkit.Plugin { return &haproxyCheck{} },
}

type haproxyCheck struct {
	socket, csvURL, backend string
	warn, crit              *pluginkit.RangeValue
}

func (c *haproxyCheck) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.socket, "socket", "", "admin socket `ADDR`: a unix socket path or HOST:PORT")
	fs.StringVar(&c.csvURL, "csv-url", "", "stats page `URL` ending in ;csv")
	fs.StringVar(&c.backend, "backend", "", "check only backend `NAME` (default: every backend)")
	c.warn = pluginkit.RangeFlag(fs, "warning", "w", "2:", "WARNING `RANGE` for the number of usable servers")
	c.crit = pluginkit.RangeFlag(fs, "critical", "c", "1:", "CRITICAL `RANGE` for the number of usable servers")
}

// statRow is what the check needs from one row of HAProxy's stats CSV.
type statRow struct {
	proxy, name, kind, status, check string
	// agent is last_agt (the agent-check's last answer, "via agent : up
	// (COMMENT)", or why it failed) and agentStatus agent_status; both
	// empty without an agent-check.
	agent, agentStatus string
	sessions           int
	// weight is the server's effective weight; -1 when the CSV has none.
	weight int
	backup bool
}

func (c *haproxyCheck) Run(ctx context.Context, r *pluginkit.Result) error {
	if (c.socket == "") == (c.csvURL == "") {
		return pluginkit.Usagef("give one of --socket ADDR or --csv-url URL")
	}
	if c.csvURL != "" {
		u, err := url.Parse(c.csvURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return pluginkit.Usagef("--csv-url %q: want the stats page's http(s) URL ending in ;csv, e.g. http://127.0.0.10:8404/stats;csv", c.csvURL)
		}
	}
	text, source, err := c.fetch(ctx, r)
	if errors.Is(err, pluginkit.ErrUsage) {
		return err
	}
	if err != nil {
		if ctx.Err() == nil {
			r.Critical("%v", err)
		}
		return nil
	}
	rows, err := parseStats(text)
	if err != nil {
		r.Unknown("cannot read the statistics from %s: %v", source, err)
		return nil
	}
	c.evaluate(r, rows, source)
	return nil
}

// evaluate records the findings for the backends in rows.
func (c *haproxyCheck) evaluate(r *pluginkit.Result, rows []statRow, source string) {
	var backends []string
	for _, row := range rows {
		if row.kind == "1" && !slices.Contains(backends, row.proxy) {
			backends = append(backends, row.proxy)
		}
	}
	if c.backend != "" {
		if !slices.Contains(backends, c.backend) {
			r.Critical("HAProxy at %s has no backend %q (backends: %s)", source, c.backend, strings.Join(backends, ", "))
			return
		}
		backends = []string{c.backend}
	}
	var fine []string
	for _, b := range backends {
		if text, ok := c.checkBackend(r, b, rows); ok {
			fine = append(fine, text)
		}
	}
	if len(fine) == len(backends) && len(backends) > 0 {
		r.OK("%s", strings.Join(fine, "; "))
	} else if len(backends) == 0 {
		r.Unknown("HAProxy at %s has no backends", source)
	}
}

func (c *haproxyCheck) fetch(ctx context.Context, r *pluginkit.Result) (text, source string, err error) {
	if c.socket != "" {
		r.Stage("waiting for `show stat` from the HAProxy admin socket %s", c.socket)
		client := haproxy.New(c.socket)
		if dl, ok := ctx.Deadline(); ok {
			// The plugin's timeout governs, so a hung socket is reported
			// as a timeout naming this stage.
			client.Timeout = time.Until(dl) + time.Second
		}
		text, err := client.Command(ctx, "show stat")
		return text, c.socket, err
	}
	r.Stage("waiting for the stats page %s", c.csvURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.csvURL, nil)
	if err != nil {
		return "", c.csvURL, pluginkit.Usagef("--csv-url %q: %v", c.csvURL, err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return "", c.csvURL, fmt.Errorf("cannot read the HAProxy stats page: %s", cleanErr(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", c.csvURL, fmt.Errorf("cannot read the HAProxy stats page %s: %v", c.csvURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", c.csvURL, fmt.Errorf("the HAProxy stats page %s answered %s", c.csvURL, resp.Status)
	}
	return string(b), c.csvURL, nil
}

// checkBackend records one backend's findings; it returns its OK summary
// and whether it is OK.
func (c *haproxyCheck) checkBackend(r *pluginkit.Result, backend string, rows []statRow) (string, bool) {
	var total, sessions, actives, backups, activeUsable, backupUsable int
	var out, activeServing, backupServing []string
	drainedOnly := true // every unusable active server is merely drained
	for _, row := range rows {
		if row.proxy != backend {
			continue
		}
		switch row.kind {
		case "1":
			sessions = row.sessions
			continue
		case "2":
		default:
			continue
		}
		total++
		role := "active"
		if row.backup {
			role = "backup"
			backups++
		} else {
			actives++
		}
		why := notUsable(row)
		r.Long("%s/%s (%s): %s", backend, row.name, role, describe(row, why))
		switch {
		case why == "" && row.backup:
			backupUsable++
			backupServing = append(backupServing, row.name)
		case why == "":
			activeUsable++
			activeServing = append(activeServing, row.name)
		default:
			out = append(out, row.name+" "+why)
			if !row.backup && !strings.HasPrefix(row.status, "DRAIN") {
				drainedOnly = false
			}
		}
	}
	usable := activeUsable + backupUsable
	r.Perf(pluginkit.Perf{Label: backend + "_up", Value: float64(usable), Warn: c.warn.Range(), Crit: c.crit.Range(), Min: pluginkit.F(0), Max: pluginkit.F(float64(total))})
	r.Perf(pluginkit.Perf{Label: backend + "_sessions", Value: float64(sessions), Min: pluginkit.F(0)})
	r.Perf(pluginkit.Perf{Label: backend + "_active_usable", Value: float64(activeUsable), Min: pluginkit.F(0), Max: pluginkit.F(float64(actives))})
	r.Perf(pluginkit.Perf{Label: backend + "_backup_usable", Value: float64(backupUsable), Min: pluginkit.F(0), Max: pluginkit.F(float64(backups))})

	// HAProxy sends traffic to the usable active servers, and to a
	// backup only when there is none (to the first usable one, or to all
	// with option allbackups, which the statistics do not show).
	failover := actives > 0 && activeUsable == 0 && backupUsable > 0
	text := fmt.Sprintf("backend %s: ", backend)
	switch {
	case usable == 0:
		text += "no usable server, "
	case failover && drainedOnly:
		text += "backup " + strings.Join(backupServing, ", ") + " serving, "
	case failover:
		text += "failover: " + strings.Join(backupServing, ", ") + " serving, "
	case backups > 0:
		text += strings.Join(activeServing, ", ") + " serving, "
	}
	text += fmt.Sprintf("%d of %d servers usable", usable, total)
	if len(out) > 0 {
		text += " (" + strings.Join(out, ", ") + ")"
	}
	s := pluginkit.Evaluate(float64(usable), c.warn.Range(), c.crit.Range())
	switch {
	case usable == 0:
		s = pluginkit.CRITICAL
	case failover && !drainedOnly && s == pluginkit.OK:
		s = pluginkit.WARNING
	}
	if s != pluginkit.OK {
		r.Add(s, "%s", text)
		return "", false
	}
	return text, true
}

// isUp reports whether a server's status lets it take traffic: UP, "UP
// 1/2" (one failed check, still up) or "no check".
func isUp(status string) bool {
	return status == "UP" || strings.HasPrefix(status, "UP ") || status == "no check"
}

// notUsable says why HAProxy cannot send the server new requests, or ""
// when it can: UP (isUp) with a weight above 0. It names the status
// (DRAIN, MAINT, "DOWN (L4CON)", NOLB) or "weight 0", with the
// agent-check's comment for "weight 0" and "DOWN (agent)". HAProxy 2.6
// shows "DRAIN (agent)" for any drained server with an agent-check, and
// labagent never answers drain, so that is "DRAIN" here.
func notUsable(row statRow) string {
	comment := haproxy.AgentComment(row.agent)
	switch {
	case isUp(row.status) && row.weight != 0:
		return ""
	case isUp(row.status) && comment != "":
		return "weight 0 (agent: " + comment + ")"
	case isUp(row.status):
		return "weight 0"
	case strings.HasPrefix(row.status, "DOWN") && strings.HasSuffix(row.status, "(agent)") && comment != "":
		return "DOWN (agent: " + comment + ")"
	case strings.HasPrefix(row.status, "DOWN") && row.check != "" && !strings.HasSuffix(row.status, ")"):
		return row.status + " (" + row.check + ")"
	case strings.HasPrefix(row.status, "DRAIN"):
		return strings.TrimSuffix(row.status, " (agent)")
	}
	return row.status
}

// describe is a server's long-output line after its name: status,
// weight, whether it is usable, its check and agent-check, sessions.
func describe(row statRow, why string) string {
	parts := []string{row.status}
	if row.weight >= 0 {
		parts = append(parts, fmt.Sprintf("weight %d", row.weight))
	}
	if why == "" {
		parts = append(parts, "usable")
	} else {
		parts = append(parts, "not usable")
	}
	if row.check != "" {
		parts = append(parts, "check "+row.check)
	}
	if answer, ok := strings.CutPrefix(row.agent, "via agent : "); ok {
		parts = append(parts, "agent: "+answer)
	} else if row.agentStatus != "" {
		agent := "agent " + row.agentStatus
		if row.agent != "" {
			agent += ": " + row.agent
		}
		parts = append(parts, agent)
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(", %d sessions", row.sessions)
}

// parseStats reads the stats CSV ("# pxname,svname,..."), by column name.
func parseStats(text string) ([]statRow, error) {
	text = strings.TrimLeft(text, "\r\n")
	if !strings.HasPrefix(text, "# ") {
		return nil, fmt.Errorf("the answer is not the stats CSV (\"# pxname,svname,...\"; does --csv-url end in ;csv?): %q", clip(text, 80))
	}
	rd := csv.NewReader(strings.NewReader(text[2:]))
	rd.FieldsPerRecord, rd.LazyQuotes = -1, true
	recs, err := rd.ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("bad CSV: %v", err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"pxname", "svname", "status"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("the CSV has no %s column", need)
		}
	}
	var rows []statRow
	for _, rec := range recs[1:] {
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := statRow{proxy: get("pxname"), name: get("svname"), kind: get("type"), status: get("status"),
			check: strings.TrimPrefix(get("check_status"), "* "), backup: get("bck") == "1",
			agent: get("last_agt"), agentStatus: strings.TrimPrefix(get("agent_status"), "* ")}
		row.sessions, _ = strconv.Atoi(get("scur"))
		row.weight = -1
		if w, err := strconv.Atoi(get("weight")); err == nil {
			row.weight = w
		}
		if row.kind == "" {
			row.kind = map[string]string{"FRONTEND": "0", "BACKEND": "1"}[row.name]
			if row.kind == "" {
				row.kind = "2"
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}
