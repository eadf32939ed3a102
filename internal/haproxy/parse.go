package haproxy

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// statTable is what Servers needs from a `show stat` answer.
type statTable struct {
	backends []string // proxies that have a backend side, in order
	servers  []Server // server rows; Admin and Operational are left unset
}

// show stat's type column (HAProxy's stats object types).
const (
	typeFrontend = "0"
	typeBackend  = "1"
	typeServer   = "2"
	typeListener = "3"
)

// parseStat reads show stat's CSV. Columns are found by name in the header
// ("# pxname,svname,..."), because HAProxy versions add columns; fields
// may be empty, and HAProxy quotes a field that holds a comma.
func parseStat(out string) (statTable, error) {
	var t statTable
	text := strings.TrimLeft(out, "\r\n")
	if !strings.HasPrefix(text, "# ") {
		return t, fmt.Errorf("the answer does not start with the CSV header \"# pxname,svname,...\": %q", clip(out))
	}
	r := csv.NewReader(strings.NewReader(text[len("# "):]))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	header, err := r.Read()
	if err != nil {
		return t, fmt.Errorf("cannot read the CSV header: %w", err)
	}
	col := columns(header)
	for _, need := range []string{"pxname", "svname", "status", "scur"} {
		if _, ok := col[need]; !ok {
			return t, fmt.Errorf("the CSV header has no %q column: %q", need, clip(out))
		}
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return t, fmt.Errorf("bad CSV: %w", err)
		}
		row := record{col: col, rec: rec}
		px, sv := row.get("pxname"), row.get("svname")
		kind := row.get("type")
		if kind == "" {
			switch sv {
			case "FRONTEND":
				kind = typeFrontend
			case "BACKEND":
				kind = typeBackend
			default:
				kind = typeServer
			}
		}
		switch kind {
		case typeBackend:
			t.backends = append(t.backends, px)
			continue
		case typeFrontend, typeListener:
			continue
		}
		s := Server{
			Backend:     px,
			Name:        sv,
			Status:      row.get("status"),
			Backup:      row.get("bck") == "1",
			CheckStatus: strings.TrimPrefix(row.get("check_status"), "* "),
			Addr:        row.get("addr"),
			Agent:       row.get("last_agt"),
			AgentStatus: strings.TrimPrefix(row.get("agent_status"), "* "),
		}
		for _, f := range []struct {
			name string
			dst  *int
		}{
			{"scur", &s.Sessions}, {"qcur", &s.Queued}, {"weight", &s.Weight},
			{"check_health", &s.CheckHealth}, {"check_rise", &s.CheckRise}, {"check_fall", &s.CheckFall},
		} {
			if *f.dst, err = row.int(f.name); err != nil {
				return t, fmt.Errorf("server %s/%s: %w", px, sv, err)
			}
		}
		t.servers = append(t.servers, s)
	}
	return t, nil
}

// serverState is what Servers needs from a `show servers state` row.
type serverState struct {
	op, admin int
}

// parseServersState reads show servers state: a format version line ("1"
// in HAProxy 2.x), a header "# be_id be_name srv_id srv_name ..." and one
// space-separated row per server. It returns the rows keyed by
// "backend/server".
func parseServersState(out string) (map[string]serverState, error) {
	states := map[string]serverState{}
	var col map[string]int
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "# "):
			col = columns(strings.Fields(line[len("# "):]))
			for _, need := range []string{"be_name", "srv_name", "srv_op_state", "srv_admin_state"} {
				if _, ok := col[need]; !ok {
					return nil, fmt.Errorf("the header has no %q column: %q", need, line)
				}
			}
			continue
		case col == nil:
			continue // the format version, "1"
		}
		row := record{col: col, rec: strings.Fields(line)}
		be, srv := row.get("be_name"), row.get("srv_name")
		op, err := row.int("srv_op_state")
		if err != nil {
			return nil, fmt.Errorf("server %s/%s: %w", be, srv, err)
		}
		admin, err := row.int("srv_admin_state")
		if err != nil {
			return nil, fmt.Errorf("server %s/%s: %w", be, srv, err)
		}
		states[be+"/"+srv] = serverState{op: op, admin: admin}
	}
	if col == nil {
		return nil, fmt.Errorf("the answer has no \"# be_id be_name ...\" header: %q", clip(out))
	}
	return states, nil
}

func columns(header []string) map[string]int {
	col := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if _, dup := col[h]; h != "" && !dup {
			col[h] = i
		}
	}
	return col
}

// record is one row whose fields are read by column name; a column that
// is missing or past the end of a short row reads as "".
type record struct {
	col map[string]int
	rec []string
}

func (r record) get(name string) string {
	i, ok := r.col[name]
	if !ok || i >= len(r.rec) {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

// int reads a numeric field; empty is 0.
func (r record) int(name string) (int, error) {
	v := r.get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s is %q, not a number", name, v)
	}
	return n, nil
}

// clip shortens an unexpected answer for an error message.
func clip(s string) string {
	const limit = 200
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
