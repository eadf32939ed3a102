package labtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestTrafficResult_WithoutServiceCountsSlotsWithoutASuccess(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	r := TrafficResult{Requests: []Request{
		{Start: at(0), End: at(50)},                       // slot 0 served
		{Start: at(100), End: at(2100), Err: "timeout"},   // fails after the window
		{Start: at(150), End: at(180), Err: "503"},        // fails in slot 1
		{Start: at(250), End: at(350)},                    // slot 3 served
		{Start: at(900), End: at(950), Write: true},       // slot 9 served
		{Start: at(400), End: at(5000), Err: "read body"}, // after the window
	}}
	// Slots 0..9 of 100 ms: served in 0, 3 and 9; 7 without.
	if got := r.WithoutService(t0, at(1000), 100*time.Millisecond); got != 700*time.Millisecond {
		t.Fatalf("WithoutService = %v, want 700ms", got)
	}
	if got := r.WithoutService(at(1000), at(1000), 100*time.Millisecond); got != 0 {
		t.Fatalf("an empty interval: %v", got)
	}
	if got := r.Between(at(100), at(400)); len(got.Requests) != 3 || got.Failed() != 2 {
		t.Fatalf("Between: %s", got)
	}
}

// TestStartTraffic_RecordsWritesReadsAndWhoServed runs the generator
// against an in-process stand-in for the todo app's two endpoints.
func TestStartTraffic_RecordsWritesReadsAndWhoServed(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "n1")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/items":
			var in struct{ Title string }
			if json.NewDecoder(r.Body).Decode(&in) != nil || in.Title == "" {
				http.Error(w, "bad", http.StatusBadRequest)
				return
			}
			if posts.Add(1) == 2 {
				http.Error(w, "database gone", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodGet && r.URL.Path == "/items":
			w.Write([]byte("[]"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tr := StartTraffic(t, TrafficOptions{Base: srv.URL, Rate: 200, Prefix: "x-"})
	time.Sleep(300 * time.Millisecond)
	res := tr.Stop()
	writes := 0
	for _, q := range res.Requests {
		if q.Write {
			writes++
		}
	}
	if writes == 0 || writes == len(res.Requests) || res.Failed() != 1 || res.Errors()["503 Service Unavailable"] != 1 {
		t.Fatalf("want reads and writes with one failed write: %s", res)
	}
	if acked := res.Acknowledged(); len(acked) != writes-1 || res.ServedBy()["n1"] != len(res.Requests)-1 {
		t.Fatalf("acknowledged %v of %d writes: %s", acked, writes, res)
	}
	if again := tr.Stop(); len(again.Requests) != len(res.Requests) {
		t.Fatal("Stop twice changed the result")
	}
}
