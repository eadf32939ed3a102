package labtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// TrafficOptions tunes StartTraffic.
type TrafficOptions struct {
	// Base is the app's URL without a path, e.g. HAProxy.URL("").
	Base string
	// Rate is requests per second, reads and writes together; default 50.
	Rate int
	// WriteEvery makes every Nth request a write (POST /items); the others
	// read (GET /items). Default 2: half of them write.
	WriteEvery int
	// Prefix starts every title written, so that a test can tell its rows;
	// each title is Prefix + a sequence number. Default "t-".
	Prefix string
	// Workers bounds the requests in flight; default 16. More than Rate
	// times Timeout means no request is ever held back (see
	// TrafficResult.Dropped): every client gets its own answer or error.
	Workers int
	// Timeout is per request, connect to last body byte; default 2s.
	Timeout time.Duration
}

// Request is one request StartTraffic sent and what came of it.
type Request struct {
	Start, End time.Time
	Write      bool
	Title      string // the title written (writes only)
	Status     int    // 0 when no response came
	Err        string // "" when the request succeeded: 201 for a write, 200 for a read
	ServedBy   string // the app's X-Served-By header
}

// OK reports whether the request succeeded; a write that is OK was
// acknowledged to the client, so its row must never be lost.
func (r Request) OK() bool { return r.Err == "" }

// Traffic sends the demo app's reads and writes until Stop; see StartTraffic.
type Traffic struct {
	o      TrafficOptions
	client *http.Client
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	reqs     []Request
	dropped  []time.Time
	stopOnce sync.Once
}

// StartTraffic sends o.Rate requests per second to the todo app
// (examples/todo) at o.Base, from o.Workers workers over keep-alive
// connections: writes (POST /items with a JSON title) and reads (GET
// /items), and records every request with its times, outcome and the
// node that served it. Pacing drops requests rather than bunching them
// when every worker is busy, as StartLoad does. It runs until Stop or the
// end of the test.
func StartTraffic(t testing.TB, o TrafficOptions) *Traffic {
	t.Helper()
	if o.Base == "" {
		t.Fatal("labtest.StartTraffic: no Base URL")
	}
	if o.Rate <= 0 {
		o.Rate = 50
	}
	if o.WriteEvery <= 0 {
		o.WriteEvery = 2
	}
	if o.Prefix == "" {
		o.Prefix = "t-"
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	tr := &Traffic{o: o, start: time.Now(), client: &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: o.Timeout}).DialContext,
		MaxIdleConnsPerHost: o.Workers,
		DisableCompression:  true,
	}}}
	tr.ctx, tr.cancel = context.WithTimeout(context.Background(), loadLimit)
	jobs := make(chan int, o.Workers)
	go func() {
		defer close(jobs)
		tick := time.NewTicker(max(time.Second/time.Duration(o.Rate), time.Millisecond))
		defer tick.Stop()
		issued := 0
		for {
			select {
			case <-tr.ctx.Done():
				return
			case <-tick.C:
			}
			for due := int(time.Since(tr.start).Seconds() * float64(o.Rate)); issued < due; issued++ {
				select {
				case jobs <- issued:
				default: // every worker busy: drop it, and say so
					tr.mu.Lock()
					tr.dropped = append(tr.dropped, time.Now())
					tr.mu.Unlock()
				}
			}
		}
	}()
	for range o.Workers {
		tr.wg.Go(func() {
			for n := range jobs {
				if tr.ctx.Err() != nil {
					continue
				}
				r := tr.do(n)
				tr.mu.Lock()
				tr.reqs = append(tr.reqs, r)
				tr.mu.Unlock()
			}
		})
	}
	t.Cleanup(func() { tr.Stop() })
	return tr
}

// do sends request number n.
func (tr *Traffic) do(n int) (r Request) {
	r = Request{Start: time.Now(), Write: n%tr.o.WriteEvery == 0}
	defer func() { r.End = time.Now() }()
	ctx, cancel := context.WithTimeout(context.Background(), tr.o.Timeout)
	defer cancel()
	var req *http.Request
	want := http.StatusOK
	if r.Write {
		r.Title = fmt.Sprintf("%s%d", tr.o.Prefix, n)
		body, _ := json.Marshal(map[string]string{"title": r.Title})
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, tr.o.Base+"/items", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		want = http.StatusCreated
	} else {
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, tr.o.Base+"/items", nil)
	}
	resp, err := tr.client.Do(req)
	if err != nil {
		// Named as StartLoad names them, without addresses.
		r.Err = (&Load{o: LoadOptions{Timeout: tr.o.Timeout}}).errorKey(err)
		return r
	}
	defer resp.Body.Close()
	r.Status, r.ServedBy = resp.StatusCode, resp.Header.Get("X-Served-By")
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		r.Err = "read body: " + err.Error()
	} else if resp.StatusCode != want {
		r.Err = resp.Status
	}
	return r
}

// Stop ends the traffic, waits for the requests in flight (at most
// Timeout) and returns every request, in the order they started. It may be
// called more than once.
func (tr *Traffic) Stop() TrafficResult {
	tr.stopOnce.Do(func() {
		tr.cancel()
		tr.wg.Wait()
		tr.client.CloseIdleConnections()
	})
	return tr.Snapshot()
}

// Snapshot returns the requests finished so far, in the order they started.
func (tr *Traffic) Snapshot() TrafficResult {
	tr.mu.Lock()
	reqs := append([]Request(nil), tr.reqs...)
	dropped := append([]time.Time(nil), tr.dropped...)
	tr.mu.Unlock()
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Start.Before(reqs[j].Start) })
	return TrafficResult{Requests: reqs, Dropped: dropped}
}

// TrafficResult is what StartTraffic recorded.
type TrafficResult struct {
	Requests []Request
	// Dropped are the times requests were due but not sent, because every
	// worker was waiting for an answer; give more Workers than Rate times
	// Timeout for none.
	Dropped []time.Time
}

// Between returns the requests that started, and the drops that happened,
// in [from, to); a zero to means no end.
func (r TrafficResult) Between(from, to time.Time) TrafficResult {
	in := func(t time.Time) bool { return !t.Before(from) && (to.IsZero() || t.Before(to)) }
	var out TrafficResult
	for _, q := range r.Requests {
		if in(q.Start) {
			out.Requests = append(out.Requests, q)
		}
	}
	for _, d := range r.Dropped {
		if in(d) {
			out.Dropped = append(out.Dropped, d)
		}
	}
	return out
}

// Acknowledged returns the titles of the writes the app acknowledged (201).
func (r TrafficResult) Acknowledged() []string {
	var out []string
	for _, q := range r.Requests {
		if q.Write && q.OK() {
			out = append(out, q.Title)
		}
	}
	return out
}

// Failed counts the requests that did not succeed.
func (r TrafficResult) Failed() int {
	n := 0
	for _, q := range r.Requests {
		if !q.OK() {
			n++
		}
	}
	return n
}

// ServedBy counts the successful requests by the node that served them.
func (r TrafficResult) ServedBy() map[string]int {
	out := map[string]int{}
	for _, q := range r.Requests {
		if q.OK() {
			out[q.ServedBy]++
		}
	}
	return out
}

// Errors counts the failures by cause (a status, or a transport error
// without addresses).
func (r TrafficResult) Errors() map[string]int {
	out := map[string]int{}
	for _, q := range r.Requests {
		if !q.OK() {
			out[q.Err]++
		}
	}
	return out
}

// WithoutService is how long clients had no service between from and to:
// the interval is cut into slots of the given length, and every slot in
// which no request finished successfully counts in full. Timed out and
// refused requests, and requests never sent because every worker was
// stuck, all count as no service, so with a steady rate well above one
// request per slot it measures the outage as a user would see it.
func (r TrafficResult) WithoutService(from, to time.Time, slot time.Duration) time.Duration {
	if !to.After(from) || slot <= 0 {
		return 0
	}
	served := map[int64]bool{}
	for _, q := range r.Requests {
		if q.OK() && !q.End.Before(from) && q.End.Before(to) {
			served[int64(q.End.Sub(from)/slot)] = true
		}
	}
	var down time.Duration
	for s := int64(0); s < int64(to.Sub(from)/slot); s++ {
		if !served[s] {
			down += slot
		}
	}
	return down
}

// String sums the result up for a test message.
func (r TrafficResult) String() string {
	writes := 0
	for _, q := range r.Requests {
		if q.Write {
			writes++
		}
	}
	return fmt.Sprintf("%d requests (%d writes, %d acknowledged), %d failed, %d not sent (every worker busy); errors %s; served by %s",
		len(r.Requests), writes, len(r.Acknowledged()), r.Failed(), len(r.Dropped), sortedCounts(r.Errors()), sortedCounts(r.ServedBy()))
}
