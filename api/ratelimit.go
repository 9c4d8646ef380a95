package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// WithRateLimit limits every client (by IP address, see
// WithTrustedProxies) to perSecond requests per second on average, with
// bursts of up to burst requests: a token bucket per client. A request
// over the limit gets 429 with a Retry-After header and a JSON detail.
// The probes (/healthz, /readyz) are never limited. perSecond <= 0 turns
// the limit off (the default); burst < 1 means 2 × perSecond, at least 1.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(o *options) { o.ratePerSecond, o.rateBurst = perSecond, burst }
}

// WithTrustedProxies sets the proxies (IP addresses or CIDRs) whose
// X-Forwarded-For and X-Real-IP headers name the client, for the rate
// limit and the request log. Default none: the client is the TCP peer,
// so a client cannot pick its own rate-limit bucket by sending those
// headers.
func WithTrustedProxies(cidrs ...string) Option {
	return func(o *options) { o.trustedProxies = append(o.trustedProxies, cidrs...) }
}

// maxClients bounds the buckets kept; idle full buckets are dropped first.
const maxClients = 100000

// rateLimiter is a token bucket per client key.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(perSecond float64, burst int, now func() time.Time) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	b := float64(burst)
	if burst < 1 {
		b = max(1, math.Ceil(2*perSecond))
	}
	return &rateLimiter{rate: perSecond, burst: b, now: now, buckets: map[string]*bucket{}, lastSweep: now()}
}

// allow takes a token from key's bucket; when there is none it reports
// how long until there is one.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute || len(l.buckets) >= maxClients {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep drops the buckets that have refilled (their clients went quiet);
// if that is not enough, it starts afresh rather than grow without bound.
func (l *rateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxClients {
		clear(l.buckets)
	}
}

// rateLimit is the middleware of WithRateLimit.
func (h *handlers) rateLimit(c *gin.Context) {
	if h.limiter == nil {
		return
	}
	switch c.FullPath() {
	case "/healthz", "/readyz":
		return
	}
	ok, wait := h.limiter.allow(c.ClientIP())
	if ok {
		return
	}
	c.Header("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	h.fail(c, errStatus(http.StatusTooManyRequests,
		fmt.Sprintf("rate limit exceeded: %g requests per second per client; retry later", h.limiter.rate)))
}
