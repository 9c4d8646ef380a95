package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAPITasks: the API's default allow-list names exactly the tasks
// Register registers.
func TestAPITasks(t *testing.T) {
	mux := worker.NewServeMux()
	Register(mux)
	names := mux.Names()
	for _, n := range APITasks() {
		if !slices.Contains(names, n) {
			t.Errorf("APITasks names %s, which Register does not register", n)
		}
	}
	for _, n := range names {
		if !slices.Contains(APITasks(), n) && !strings.HasPrefix(n, "celery.") {
			t.Errorf("Register registers %s, which APITasks does not name", n)
		}
	}
}

// TestResultBytesBound: tasks.mul fails before it builds a result over
// the bound, counted in bytes, not elements.
func TestResultBytesBound(t *testing.T) {
	o := &options{MaxResult: 1 << 20}
	big := strings.Repeat("A", 100000)
	for _, tc := range []struct {
		name string
		x, y any
	}{
		{"list of a long string", []any{big}, json.Number("1000")},
		{"int times list", json.Number("1000"), []any{big}},
		{"string", big, json.Number("11")},
	} {
		res, err := pyMul(o, tc.x, tc.y)
		var pe *worker.PyError
		if !errors.As(err, &pe) || pe.Type != "MemoryError" || !strings.Contains(err.Error(), "limit") {
			t.Errorf("%s: pyMul = %.40v, %v; want a MemoryError naming the limit", tc.name, res, err)
		}
	}
	if res, err := pyMul(o, []any{big}, json.Number("10")); err != nil || len(res.([]any)) != 10 {
		t.Errorf("pyMul under the bound = %v", err)
	}
	// Results that do not grow beyond their input are checked after.
	h := o.Wrap(worker.HandlerFunc(func(context.Context, *worker.Task) (any, error) {
		return []any{big, big, big, big, big, big, big, big, big, big, big}, nil
	}))
	var pe *worker.PyError
	if _, err := h.ProcessTask(context.Background(), &worker.Task{}); !errors.As(err, &pe) || pe.Type != "MemoryError" {
		t.Errorf("bounded handler with a 1.1 MB result: err = %v", err)
	}
}
