// Package duration parses the durations celeriac's flags and API take:
// a plain number of seconds, as Celery's options are written ("3",
// "0.5"), or a Go duration ("3s", "250ms", "1m30s").
package duration

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("want seconds (3, 0.5) or a duration (3s, 1m)")

// Parse returns the duration s denotes: a number of seconds ("3", "0.5",
// "-1", "1e3") or anything time.ParseDuration accepts. Surrounding spaces
// are ignored. NaN, infinities and values beyond time.Duration's range are
// errors.
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	ns := f * float64(time.Second)
	if ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, fmt.Errorf("%q: out of range: %w", s, ErrSyntax)
	}
	return time.Duration(math.Round(ns)), nil
}

// Format writes d as a short Go duration that Parse reads back: "30s",
// "1m", "24h", "1.5s", "250ms" (time.Duration.String without its
// trailing zero units).
func Format(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
