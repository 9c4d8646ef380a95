// Package taskbounds holds the bounds that the celeriac binary's built-in
// tasks (worker/builtin) and its test tasks (internal/testtasks) share: how
// long a task may sleep and how much JSON its result may take.
package taskbounds

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/worker"
)

// Defaults of Bounds. DefaultMaxSleep equals the API's default
// --max-duration.
const (
	DefaultMaxSleep       = time.Hour
	DefaultMaxResultBytes = 16 << 20
)

// Bounds limits what a built-in task does on a caller's word.
type Bounds struct {
	// MaxSleep is the longest sleep; a negative one means no bound.
	MaxSleep time.Duration
	// MaxResult is the largest result, in bytes of JSON; 0 or less
	// means no bound.
	MaxResult int
}

// Default returns DefaultMaxSleep and DefaultMaxResultBytes.
func Default() Bounds {
	return Bounds{MaxSleep: DefaultMaxSleep, MaxResult: DefaultMaxResultBytes}
}

// Sleep sleeps for seconds or until ctx ends (then it returns ctx.Err()).
// A negative, NaN or over-the-bound length fails with a Python ValueError
// before it sleeps.
func (b *Bounds) Sleep(ctx context.Context, seconds float64) error {
	switch {
	case seconds < 0:
		return worker.NewPyError("ValueError", "sleep length must be non-negative")
	case math.IsNaN(seconds):
		return worker.NewPyError("ValueError", "Invalid value NaN (not a number)")
	case b.MaxSleep >= 0 && seconds > b.MaxSleep.Seconds():
		return worker.NewPyError("ValueError", fmt.Sprintf("sleep length %s s is over this worker's limit of %s s (--max-duration)",
			strconv.FormatFloat(seconds, 'g', -1, 64), strconv.FormatFloat(b.MaxSleep.Seconds(), 'g', -1, 64)))
	}
	d := time.Duration(math.MaxInt64)
	if seconds < d.Seconds() {
		d = time.Duration(seconds * float64(time.Second))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Wrap fails a task whose result encodes to more than MaxResult bytes of
// JSON, before the worker stores it.
func (b *Bounds) Wrap(h worker.Handler) worker.Handler {
	if b.MaxResult <= 0 {
		return h
	}
	return worker.HandlerFunc(func(ctx context.Context, t *worker.Task) (any, error) {
		res, err := h.ProcessTask(ctx, t)
		if err != nil {
			return res, err
		}
		if enc, eerr := pyjson.Encode(res); eerr == nil && len(enc) > b.MaxResult {
			return nil, b.TooLarge(len(enc))
		}
		return res, nil
	})
}

// TooLarge is the error (a Python MemoryError) of a result of about n
// bytes.
func (b *Bounds) TooLarge(n int) error {
	return worker.NewPyError("MemoryError", fmt.Sprintf("result would be about %d bytes of JSON, over the %d-byte limit of built-in tasks' results", n, b.MaxResult))
}
