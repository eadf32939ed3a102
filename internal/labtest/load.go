package labtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// LoadOptions tunes StartLoad.
type LoadOptions struct {
	URL     string        // GET target
	Rate    int           // requests per second; default 200
	Workers int           // concurrent requests at most; default 8
	Timeout time.Duration // per request, connect to last body byte; default 2s
}

// LoadResult counts the requests of a Load.
type LoadResult struct {
	Sent, OK, Failed int
	// Errors counts failures by cause: a status ("503 Service
	// Unavailable") or a transport error ("read: connection reset by
	// peer"), without addresses, so equal causes add up.
	Errors map[string]int
	// Bodies counts the bodies of OK responses (trimmed, first 64 bytes),
	// e.g. {"v1": 300, "v2": 298}.
	Bodies   map[string]int
	Duration time.Duration
}

// String sums the result up for a test message.
func (r LoadResult) String() string {
	return fmt.Sprintf("sent %d, ok %d, failed %d in %s; errors %s; bodies %s",
		r.Sent, r.OK, r.Failed, r.Duration.Round(time.Millisecond), sortedCounts(r.Errors), sortedCounts(r.Bodies))
}

func sortedCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%q: %d", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// loadLimit bounds a Load that is never stopped.
const loadLimit = 10 * time.Minute

// Load sends paced GET requests until Stop; see StartLoad.
type Load struct {
	o      LoadOptions
	client *http.Client
	start  time.Time
	cancel context.CancelFunc
	ctx    context.Context
	done   chan struct{} // closed when the last worker has finished

	mu       sync.Mutex
	res      LoadResult
	end      time.Time // set when the last worker has finished
	stopOnce sync.Once
}

// StartLoad sends GET o.URL at o.Rate requests per second from o.Workers
// workers over keep-alive connections, until Stop, the end of the test or
// 10 minutes, whichever comes first. Pacing is a token bucket holding at
// most Workers tokens: when every worker is busy (a slow server), tokens
// beyond that are dropped rather than sent later in a burst. A request
// fails when it errors or its status is not 200.
func StartLoad(t testing.TB, o LoadOptions) *Load {
	t.Helper()
	if o.URL == "" {
		t.Fatal("labtest.StartLoad: no URL")
	}
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 nil, // targets are loopback: never a proxy from the environment
		DialContext:           (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          o.Workers,
		MaxIdleConnsPerHost:   o.Workers,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		DisableCompression:    true,
	}
	l := &Load{
		o:      o,
		client: &http.Client{Transport: tr},
		start:  time.Now(),
		res:    LoadResult{Errors: map[string]int{}, Bodies: map[string]int{}},
	}
	l.ctx, l.cancel = context.WithTimeout(context.Background(), loadLimit)
	tokens := make(chan struct{}, o.Workers)
	l.done = make(chan struct{})
	go l.pace(tokens)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() { l.work(tokens) })
	}
	go func() {
		wg.Wait()
		l.mu.Lock()
		l.end = time.Now()
		l.mu.Unlock()
		close(l.done)
	}()
	t.Cleanup(func() { l.Stop() })
	return l
}

// pace issues Rate tokens per second, counted from the start so that
// ticker jitter does not lower the rate, until the load is stopped.
func (l *Load) pace(tokens chan<- struct{}) {
	defer close(tokens)
	every := max(time.Second/time.Duration(l.o.Rate), time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	issued := 0
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-tick.C:
		}
		due := int(time.Since(l.start).Seconds() * float64(l.o.Rate))
		for issued < due {
			select {
			case tokens <- struct{}{}:
				issued++
			default:
				issued = due // bucket full: drop the rest
			}
		}
	}
}

func (l *Load) work(tokens <-chan struct{}) {
	for range tokens {
		if l.ctx.Err() != nil {
			continue // stopped: tokens still in the bucket are not sent
		}
		l.mu.Lock()
		l.res.Sent++
		l.mu.Unlock()
		body, failure := l.get()
		l.mu.Lock()
		if failure != "" {
			l.res.Failed++
			l.res.Errors[failure]++
		} else {
			l.res.OK++
			l.res.Bodies[body]++
		}
		l.mu.Unlock()
	}
}

// get does one request and returns the trimmed body, or why it failed.
// Requests in flight when Stop is called finish: they have their own
// timeout and are not cancelled.
func (l *Load) get() (body, failure string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.o.URL, nil)
	if err != nil {
		return "", err.Error()
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return "", l.errorKey(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "read body: " + l.errorKey(err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", resp.Status
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 64 {
		s = s[:64]
	}
	return s, ""
}

// errorKey names an error without the addresses and ports in it, so that
// equal failures are counted together.
func (l *Load) errorKey(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("timeout after %s", l.o.Timeout)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// Stop ends the load, waits for the requests in flight (at most Timeout)
// and returns the final counts. It may be called more than once.
func (l *Load) Stop() LoadResult {
	l.stopOnce.Do(func() {
		l.cancel()
		<-l.done
		l.client.CloseIdleConnections()
	})
	return l.Snapshot()
}

// Snapshot returns the counts so far; Sent may exceed OK+Failed by the
// requests in flight.
func (l *Load) Snapshot() LoadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.res
	r.Errors = maps.Clone(l.res.Errors)
	r.Bodies = maps.Clone(l.res.Bodies)
	if l.end.IsZero() {
		r.Duration = time.Since(l.start)
	} else {
		r.Duration = l.end.Sub(l.start)
	}
	return r
}
