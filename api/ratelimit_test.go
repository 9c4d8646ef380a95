package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(1, 2, func() time.Time { return now })
	for i := range 2 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("over the burst: allow = %v, wait %v", ok, wait)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Error("another client shares the bucket")
	}
	now = now.Add(time.Second)
	if ok, _ := l.allow("a"); !ok {
		t.Error("no token after a second at 1/s")
	}
	if ok, _ := l.allow("a"); ok {
		t.Error("two tokens after a second at 1/s")
	}
	// Quiet clients' buckets are dropped.
	now = now.Add(2 * time.Minute)
	l.allow("c")
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1", n)
	}
	if newRateLimiter(0, 5, time.Now) != nil {
		t.Error("rate 0 is not off")
	}
	if l := newRateLimiter(0.5, 0, time.Now); l.burst != 1 {
		t.Errorf("default burst at 0.5/s = %v, want 1", l.burst)
	}
}

func TestRateLimitMiddleware(t *testing.T) {
	f := newFixture(t, Deps{}, WithRateLimit(0.01, 2))
	req := func(target, remote string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(testCtx(t), "GET", target, nil)
		r.RemoteAddr = remote
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		f.engine.ServeHTTP(w, r)
		return w
	}
	for range 2 {
		if w := req("/task-status/x", "10.0.0.1:1000"); w.Code != 200 {
			t.Fatalf("within the burst: %d %s", w.Code, w.Body)
		}
	}
	w := req("/task-status/x", "10.0.0.1:1001", "X-Forwarded-For", "10.9.9.9")
	if w.Code != 429 {
		t.Fatalf("over the limit (and a forged X-Forwarded-For): %d %s", w.Code, w.Body)
	}
	if ra := w.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	if d, _ := decode(t, w)["detail"].(string); !strings.Contains(d, "rate limit") {
		t.Errorf("detail = %q", d)
	}
	if w := req("/healthz", "10.0.0.1:1000"); w.Code != 200 {
		t.Errorf("/healthz limited: %d", w.Code)
	}
	if w := req("/task-status/x", "10.0.0.2:1000"); w.Code != 200 {
		t.Errorf("another client limited: %d", w.Code)
	}

	// Behind a trusted proxy, the forwarded client is the key.
	p := newFixture(t, Deps{}, WithRateLimit(0.01, 1), WithTrustedProxies("10.0.0.0/8"))
	f = p
	if w := req("/task-status/x", "10.0.0.1:1000", "X-Forwarded-For", "192.0.2.7"); w.Code != 200 {
		t.Fatalf("first: %d", w.Code)
	}
	if w := req("/task-status/x", "10.0.0.1:1000", "X-Forwarded-For", "192.0.2.8"); w.Code != 200 {
		t.Errorf("another client behind the proxy: %d", w.Code)
	}
	if w := req("/task-status/x", "10.0.0.1:1000", "X-Forwarded-For", "192.0.2.7"); w.Code != 429 {
		t.Errorf("same client behind the proxy: %d", w.Code)
	}
}

type failingWorkers struct{ err error }

func (f failingWorkers) Workers(context.Context) ([]WorkerInfo, error) { return nil, f.err }

// TestInternalErrorsHidden: what goes wrong inside (errors holding URLs
// with passwords, panics with stacks, a broker that is down) never reaches
// the response body.
func TestInternalErrorsHidden(t *testing.T) {
	secret := "hunter2-secret"
	inner := errors.New("redis dial redis://:" + secret + "@10.0.0.5:6379/0: goroutine 7 [running]: main.go:42")
	f := newFixture(t, Deps{Revoker: &fakeRevoker{err: inner}, Workers: failingWorkers{inner}})
	f.engine.GET("/panic", func(*gin.Context) { panic(inner) })
	check := func(name string, w *httptest.ResponseRecorder, code int) {
		t.Helper()
		body := w.Body.String()
		if w.Code != code {
			t.Errorf("%s: status %d, want %d", name, w.Code, code)
		}
		for _, leak := range []string{secret, "goroutine", ".go:", "redis://"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: body leaks %q: %s", name, leak, body)
			}
		}
		if _, ok := decode(t, w)["detail"]; !ok {
			t.Errorf("%s: no detail: %s", name, body)
		}
	}
	check("revoke", f.do("DELETE", "/api/v1/tasks/abc", ""), 500)
	check("workers", f.do("GET", "/api/v1/workers", ""), 500)
	check("panic", f.do("GET", "/panic", ""), 500)
	f.redis.Stop()
	check("broker down", f.do("POST", "/api/v1/tasks/tasks.add", `{"args": [1, 2]}`), 503)
	check("result, broker down", f.do("GET", "/api/v1/tasks/abc", ""), 503)
}
