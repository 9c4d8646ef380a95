package taskbounds

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSleepBound: the sleeping tasks refuse a duration over the bound
// (or NaN) before they sleep.
func TestSleepBound(t *testing.T) {
	b := &Bounds{MaxSleep: time.Minute}
	for _, secs := range []float64{61, 1e300, math.Inf(1), math.NaN(), -1} {
		err := b.Sleep(context.Background(), secs)
		var pe *worker.PyError
		if !errors.As(err, &pe) || pe.Type != "ValueError" {
			t.Errorf("Sleep(%v) = %v, want a ValueError", secs, err)
		}
	}
	if err := b.Sleep(context.Background(), 0.001); err != nil {
		t.Errorf("Sleep(0.001) = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&Bounds{MaxSleep: -1}).Sleep(ctx, 1e300); !errors.Is(err, context.Canceled) {
		t.Errorf("unbounded Sleep(1e300) with a cancelled context = %v", err)
	}
}

// TestWrap: a wrapped handler's result over MaxResult bytes of JSON
// becomes a MemoryError; without a bound the handler is unchanged.
func TestWrap(t *testing.T) {
	h := worker.HandlerFunc(func(context.Context, *worker.Task) (any, error) { return "0123456789", nil })
	var pe *worker.PyError
	if _, err := (&Bounds{MaxResult: 11}).Wrap(h).ProcessTask(context.Background(), &worker.Task{}); !errors.As(err, &pe) || pe.Type != "MemoryError" {
		t.Errorf("12-byte result over an 11-byte bound: err = %v, want a MemoryError", err)
	}
	if res, err := (&Bounds{MaxResult: 12}).Wrap(h).ProcessTask(context.Background(), &worker.Task{}); err != nil || res != "0123456789" {
		t.Errorf("12-byte result within a 12-byte bound = %v, %v", res, err)
	}
	if res, err := (&Bounds{}).Wrap(h).ProcessTask(context.Background(), &worker.Task{}); err != nil || res != "0123456789" {
		t.Errorf("no bound = %v, %v", res, err)
	}
}
