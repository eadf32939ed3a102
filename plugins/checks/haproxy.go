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
	Summary: "UP servers per HAProxy backend, naming those in DRAIN, MAINT or DOWN",
	Usage:   "(--socket ADDR | --csv-url URL) [--backend NAME] [-w RANGE] [-c RANGE]",
	Help: `Reads HAProxy's statistics from the admin socket (--socket: a unix socket path
or HOST:PORT; runs "show stat") or from the stats page (--csv-url, the URL
ending in ;csv). For --backend (default: every backend) it counts the servers
that are UP (including "UP 1/2", going down, and "no check") and checks the
count against -w/-c (defaults -w 2: -c 1:, WARNING below two, CRITICAL with
none). Servers in DRAIN, MAINT, DOWN or NOLB are named in the output.
CRITICAL when the socket or page cannot be read or the backend does not
exist. Perfdata per backend: up servers and current sessions.`,
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
	c.warn = pluginkit.RangeFlag(fs, "warning", "w", "2:", "WARNING `RANGE` for the number of UP servers")
	c.crit = pluginkit.RangeFlag(fs, "critical", "c", "1:", "CRITICAL `RANGE` for the number of UP servers")
}

// statRow is what the check needs from one row of HAProxy's stats CSV.
type statRow struct {
	proxy, name, kind, status, check string
	sessions                         int
	backup                           bool
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
	var backends []string
	for _, row := range rows {
		if row.kind == "1" && !slices.Contains(backends, row.proxy) {
			backends = append(backends, row.proxy)
		}
	}
	if c.backend != "" {
		if !slices.Contains(backends, c.backend) {
			r.Critical("HAProxy at %s has no backend %q (backends: %s)", source, c.backend, strings.Join(backends, ", "))
			return nil
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
	return nil
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
	var up, total, sessions int
	var out []string
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
		role := ""
		if row.backup {
			role = " (backup)"
		}
		check := ""
		if row.check != "" {
			check = ", check " + row.check
		}
		r.Long("%s/%s%s: %s%s, %d sessions", backend, row.name, role, row.status, check, row.sessions)
		if isUp(row.status) {
			up++
			continue
		}
		state := row.status
		if strings.HasPrefix(state, "DOWN") && row.check != "" {
			state += " (" + row.check + ")"
		}
		out = append(out, row.name+" "+state)
	}
	r.Perf(pluginkit.Perf{Label: backend + "_up", Value: float64(up), Warn: c.warn.Range(), Crit: c.crit.Range(), Min: pluginkit.F(0), Max: pluginkit.F(float64(total))})
	r.Perf(pluginkit.Perf{Label: backend + "_sessions", Value: float64(sessions), Min: pluginkit.F(0)})
	text := fmt.Sprintf("backend %s: %d of %d servers UP", backend, up, total)
	if len(out) > 0 {
		text += " (" + strings.Join(out, ", ") + ")"
	}
	s := pluginkit.Evaluate(float64(up), c.warn.Range(), c.crit.Range())
	if s != pluginkit.OK {
		r.Add(s, "%s", text)
		return "", false
	}
	if len(out) > 0 {
		// Enough servers are up, but the others are worth naming.
		r.OK("%s", text)
	}
	return text, true
}

// isUp reports whether a server takes traffic: UP, "UP 1/2" (one failed
// check, still up) or "no check".
func isUp(status string) bool {
	return status == "UP" || strings.HasPrefix(status, "UP ") || status == "no check"
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
			check: strings.TrimPrefix(get("check_status"), "* "), backup: get("bck") == "1"}
		row.sessions, _ = strconv.Atoi(get("scur"))
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
