package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"

	"github.com/labfleet/labfleet/plugins/pluginkit"
)

var checkApp = pluginkit.Spec{
	Name:    "check_app",
	Label:   "APP",
	Summary: "HTTP(S) GET an app through HAProxy or on one node: status, body, time, version, certificate",
	Usage:   "-H HOST [-p PORT] [-u URI] [--ssl] [-e CODES] [-s TEXT] [-r REGEX] [-w RANGE] [-c RANGE] [--expect-version V] [--certificate W,C]",
	Help: `GETs http(s)://HOST:PORT/URI without following redirects. CRITICAL when the
connection fails, the status is not one of -e, the body lacks -s or does not
match -r, or GET /version does not answer exactly --expect-version; -w/-c
apply to the response time in seconds (no default). With --ssl the server's
certificate is verified (against --cacert, else the system roots; --no-verify
skips that) and --certificate W,C makes fewer than W days left WARNING and
fewer than C days CRITICAL; unlike check_http -C the page is checked too.
Perfdata: time, size and, with --certificate, cert_days.`,
	New: func() pluginkit.Plugin { return &appCheck{} },
}

type appCheck struct {
	host, uri, expect, text, regex, expectVersion, certificate, caFile string
	port                                                               int
	ssl, noVerify                                                      bool
	warn, crit                                                         *pluginkit.RangeValue
}

func (c *appCheck) Flags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.host, "hostname", "H", "", "`HOST` to connect to (required); also the Host header and TLS server name")
	fs.IntVarP(&c.port, "port", "p", 0, "`PORT` (default 80, or 443 with --ssl)")
	fs.StringVarP(&c.uri, "uri", "u", "/", "`PATH` to GET")
	fs.BoolVar(&c.ssl, "ssl", false, "use HTTPS")
	fs.StringVarP(&c.expect, "expect", "e", "200", "expected status `CODES`, comma separated")
	fs.StringVarP(&c.text, "string", "s", "", "CRITICAL unless the body contains `TEXT`")
	fs.StringVarP(&c.regex, "regex", "r", "", "CRITICAL unless the body matches `REGEX` (Go syntax)")
	c.warn = pluginkit.RangeFlag(fs, "warning", "w", "", "WARNING `RANGE` for the response time in seconds")
	c.crit = pluginkit.RangeFlag(fs, "critical", "c", "", "CRITICAL `RANGE` for the response time in seconds")
	fs.StringVar(&c.expectVersion, "expect-version", "", "CRITICAL unless GET /version answers `VERSION`")
	fs.StringVar(&c.certificate, "certificate", "", "with --ssl: `W,C` minimum days the certificate has left (WARNING, CRITICAL)")
	fs.StringVar(&c.caFile, "cacert", "", "with --ssl: CA `FILE` to verify the server against")
	fs.BoolVar(&c.noVerify, "no-verify", false, "with --ssl: do not verify the server's certificate")
}

// certDays parses --certificate: "W,C" or "W" (CRITICAL when expired).
func (c *appCheck) certDays() (warn, crit float64, err error) {
	w, cr, found := strings.Cut(c.certificate, ",")
	if !found {
		cr = "0"
	}
	warn, err1 := strconv.ParseFloat(strings.TrimSpace(w), 64)
	crit, err2 := strconv.ParseFloat(strings.TrimSpace(cr), 64)
	if err1 != nil || err2 != nil || warn < crit || crit < 0 {
		return 0, 0, pluginkit.Usagef("--certificate %q: want W,C days with W >= C >= 0, e.g. 30,14", c.certificate)
	}
	return warn, crit, nil
}

func (c *appCheck) Run(ctx context.Context, r *pluginkit.Result) error {
	if c.host == "" {
		return pluginkit.Usagef("-H HOST is required")
	}
	if strings.ContainsAny(c.host, "/@ []") || strings.ContainsFunc(c.host, unicode.IsControl) || strings.Count(c.host, ":") == 1 {
		return pluginkit.Usagef("-H %q: want a host name or address only, IPv6 without brackets (the port is -p, the path -u, HTTPS --ssl)", c.host)
	}
	if c.port < 0 || c.port > 65535 {
		return pluginkit.Usagef("-p %d is not a port number", c.port)
	}
	codes, err := parseCodes(c.expect)
	if err != nil {
		return err
	}
	var re *regexp.Regexp
	if c.regex != "" {
		if re, err = regexp.Compile(c.regex); err != nil {
			return pluginkit.Usagef("-r %q: %v", c.regex, err)
		}
	}
	var certWarn, certCrit float64
	if c.certificate != "" {
		if !c.ssl {
			return pluginkit.Usagef("--certificate needs --ssl")
		}
		if certWarn, certCrit, err = c.certDays(); err != nil {
			return err
		}
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	base := c.baseURL()

	target := base + "/" + strings.TrimPrefix(c.uri, "/")
	r.Stage("waiting for GET %s", target)
	start := time.Now()
	resp, body, err := get(ctx, client, target)
	elapsed := time.Since(start)
	if err != nil {
		if ctx.Err() == nil {
			r.Critical("GET %s: %v", target, cleanErr(err))
		}
		return nil
	}
	r.Perf(pluginkit.Perf{Label: "time", Value: elapsed.Seconds(), UOM: "s", Warn: c.warn.Range(), Crit: c.crit.Range(), Min: pluginkit.F(0)})
	r.Perf(pluginkit.Perf{Label: "size", Value: float64(len(body)), UOM: "B", Min: pluginkit.F(0)})
	r.Long("GET %s: %s, %d bytes in %s", target, resp.Status, len(body), human(elapsed))
	r.Verbose(1, "response headers: Server %q, Content-Type %q", resp.Header.Get("Server"), resp.Header.Get("Content-Type"))

	if !slices.Contains(codes, resp.StatusCode) {
		r.Critical("HTTP %d from %s (expected %s)", resp.StatusCode, target, c.expect)
	}
	if c.text != "" && !strings.Contains(body, c.text) {
		r.Critical("the body of %s lacks %q", c.uri, c.text)
	}
	if re != nil && !re.MatchString(body) {
		r.Critical("the body of %s does not match /%s/", c.uri, c.regex)
	}
	if s := pluginkit.Evaluate(elapsed.Seconds(), c.warn.Range(), c.crit.Range()); s != pluginkit.OK {
		r.Add(s, "response time %s breaches %s", human(elapsed), breach(s, "-w "+c.warn.String(), "-c "+c.crit.String()))
	}
	if c.certificate != "" && resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		c.checkCert(r, resp.TLS.PeerCertificates[0], certWarn, certCrit)
	}
	if c.expectVersion != "" {
		r.Stage("waiting for GET %s/version", base)
		vresp, vbody, err := get(ctx, client, base+"/version")
		switch {
		case err != nil:
			if ctx.Err() == nil {
				r.Critical("GET %s/version: %v", base, cleanErr(err))
			}
		case vresp.StatusCode != http.StatusOK:
			r.Critical("GET /version: HTTP %d, expected 200 answering %q", vresp.StatusCode, c.expectVersion)
		case strings.TrimSpace(vbody) != c.expectVersion:
			r.Critical("/version answers %q, expected %q", clip(strings.TrimSpace(vbody), 64), c.expectVersion)
		default:
			r.Long("GET /version: %s", c.expectVersion)
		}
	}
	summary := fmt.Sprintf("HTTP %d, %d bytes in %s", resp.StatusCode, len(body), human(elapsed))
	if c.expectVersion != "" {
		summary += ", version " + c.expectVersion
	}
	r.OK("%s", summary)
	return nil
}

func (c *appCheck) checkCert(r *pluginkit.Result, cert *x509.Certificate, warn, crit float64) {
	days := time.Until(cert.NotAfter).Hours() / 24
	r.Perf(pluginkit.Perf{Label: "cert_days", Value: float64(int(days)), Warn: &pluginkit.Range{Start: warn, End: inf},
		Crit: &pluginkit.Range{Start: crit, End: inf}})
	text := fmt.Sprintf("certificate %q expires in %d days (%s)", cert.Subject.CommonName, int(days), cert.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
	r.Long("%s", text)
	switch {
	case days < crit:
		r.Critical("%s, fewer than %s", text, pluginkit.FormatFloat(crit))
	case days < warn:
		r.Warning("%s, fewer than %s", text, pluginkit.FormatFloat(warn))
	}
}

func (c *appCheck) baseURL() string {
	scheme, port := "http", c.port
	if c.ssl {
		scheme = "https"
	}
	if port == 0 {
		port = map[bool]int{false: 80, true: 443}[c.ssl]
	}
	return (&url.URL{Scheme: scheme, Host: net.JoinHostPort(c.host, strconv.Itoa(port))}).String()
}

func (c *appCheck) client() (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.host, InsecureSkipVerify: c.noVerify} //nolint:gosec // --no-verify asks for it
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, pluginkit.Usagef("cannot read --cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, pluginkit.Usagef("--cacert %s holds no PEM certificate", c.caFile)
		}
		tc.RootCAs = pool
	}
	return &http.Client{
		Transport:     &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// get fetches url and reads at most 1 MB of its body.
func get(ctx context.Context, client *http.Client, url string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", "check_app (labfleet)")
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b), err
}

func parseCodes(s string) ([]int, error) {
	var codes []int
	for part := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 100 || n > 599 {
			return nil, pluginkit.Usagef("-e %q: want HTTP status codes such as 200 or 200,301", s)
		}
		codes = append(codes, n)
	}
	return codes, nil
}

// cleanErr drops net/http's repetition of the method and URL.
func cleanErr(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}
