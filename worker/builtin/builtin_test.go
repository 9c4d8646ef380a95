package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAPITasks: the API's default allow-list names registered tasks only,
// and none of the test-only ones.
func TestAPITasks(t *testing.T) {
	mux := worker.NewServeMux()
	Register(mux, nil)
	names := mux.Names()
	for _, n := range APITasks() {
		if !slices.Contains(names, n) {
			t.Errorf("APITasks names %s, which Register does not register", n)
		}
	}
	for _, n := range []string{"tasks.sleep", "tasks.stubborn", "tasks.fail", "tasks.echo", "tasks.flaky"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s is not registered on the worker", n)
		}
		if slices.Contains(APITasks(), n) {
			t.Errorf("test-only task %s is in the API's default allow-list", n)
		}
	}
}

// TestResultBytesBound: tasks.mul fails before it builds a result over
// the bound, counted in bytes, not elements.
func TestResultBytesBound(t *testing.T) {
	o := &options{maxResult: 1 << 20}
	big := strings.Repeat("A", 100000)
	for _, tc := range []struct {
		name string
		x, y any
	}{
		{"list of a long string", []any{big}, json.Number("1000")},
		{"int times list", json.Number("1000"), []any{big}},
		{"string", big, json.Number("11")},
	} {
		res, err := o.pyMul(tc.x, tc.y)
		var pe *worker.PyError
		if !errors.As(err, &pe) || pe.Type != "MemoryError" || !strings.Contains(err.Error(), "limit") {
			t.Errorf("%s: pyMul = %.40v, %v; want a MemoryError naming the limit", tc.name, res, err)
		}
	}
	if res, err := o.pyMul([]any{big}, json.Number("10")); err != nil || len(res.([]any)) != 10 {
		t.Errorf("pyMul under the bound = %v", err)
	}
	// Results that do not grow beyond their input are checked after.
	h := o.bounded(worker.HandlerFunc(func(context.Context, *worker.Task) (any, error) {
		return []any{big, big, big, big, big, big, big, big, big, big, big}, nil
	}))
	var pe *worker.PyError
	if _, err := h.ProcessTask(context.Background(), &worker.Task{}); !errors.As(err, &pe) || pe.Type != "MemoryError" {
		t.Errorf("bounded handler with a 1.1 MB result: err = %v", err)
	}
}

// TestSleepBound: the sleeping built-ins refuse a duration over the bound
// (or NaN) before they sleep.
func TestSleepBound(t *testing.T) {
	o := &options{maxSleep: time.Minute}
	for _, secs := range []float64{61, 1e300, math.Inf(1), math.NaN(), -1} {
		err := o.sleepCtx(context.Background(), secs)
		var pe *worker.PyError
		if !errors.As(err, &pe) || pe.Type != "ValueError" {
			t.Errorf("sleepCtx(%v) = %v, want a ValueError", secs, err)
		}
	}
	if err := o.sleepCtx(context.Background(), 0.001); err != nil {
		t.Errorf("sleepCtx(0.001) = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&options{maxSleep: -1}).sleepCtx(ctx, 1e300); !errors.Is(err, context.Canceled) {
		t.Errorf("unbounded sleepCtx(1e300) with a cancelled context = %v", err)
	}
}
