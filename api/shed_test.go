package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// With its maximum in flight, the API answers further requests at once
// with 503, a JSON reason and Retry-After; probes and /metrics still
// answer, and once the slow requests end requests are served again.
func TestShedding(t *testing.T) {
	f := newFixture(t, Deps{}, WithMaxInFlight(2))
	// Two waits on a task that never runs hold both slots for 2 s.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if w := f.do("GET", "/api/v1/tasks/never-runs?wait=2s", ""); w.Code != http.StatusOK {
				t.Errorf("wait: %d %s", w.Code, w.Body)
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // both waits are in flight
	deadline := time.Now().Add(5 * time.Second)
	var shed int
	for shed == 0 && time.Now().Before(deadline) {
		start := time.Now()
		w := f.do("GET", "/api/v1/tasks/other", "")
		if w.Code == http.StatusServiceUnavailable {
			shed++
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("shed answer took %v", d)
			}
			if w.Header().Get("Retry-After") != "1" {
				t.Errorf("Retry-After = %q", w.Header().Get("Retry-After"))
			}
			var body struct{ Detail string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || !strings.Contains(body.Detail, "overloaded") {
				t.Errorf("body %s (%v)", w.Body, err)
			}
			for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
				if w := f.do("GET", p, ""); w.Code != http.StatusOK {
					t.Errorf("%s while shedding: %d", p, w.Code)
				}
			}
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if shed == 0 {
		t.Fatal("no request was shed while 2 of 2 slots were taken")
	}
	wg.Wait()
	if w := f.do("GET", "/api/v1/tasks/other", ""); w.Code != http.StatusOK {
		t.Errorf("after the load: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "/metrics", ""); !strings.Contains(w.Body.String(), "celeriac_api_shed_total ") {
		t.Error("celeriac_api_shed_total missing from /metrics")
	}
}
