package worker

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// limiter spaces task starts evenly at a rate (Celery's token bucket of
// capacity 1: consumer.py `bucket_for_task`). It hands out start times;
// callers wait on a timer, never poll.
type limiter struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time
}

// parseRate parses Celery's rate strings: "N/s", "N/m", "N/h" or a bare
// number per second (utils/time.py `rate`).
func parseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	num, unit, found := strings.Cut(s, "/")
	per := 1.0
	if found {
		switch strings.TrimSpace(unit) {
		case "s", "sec", "second":
		case "m", "min", "minute":
			per = 60
		case "h", "hour":
			per = 3600
		default:
			return 0, fmt.Errorf("invalid rate limit string: %q", s)
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid rate limit string: %q", s)
	}
	return n / per, nil
}

func newLimiter(rate string) (*limiter, error) {
	r, err := parseRate(rate)
	if err != nil {
		return nil, err
	}
	if r == 0 {
		return nil, nil
	}
	return &limiter{interval: time.Duration(float64(time.Second) / r)}, nil
}

// reserve returns when the next task may start.
func (l *limiter) reserve(now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	return at
}
