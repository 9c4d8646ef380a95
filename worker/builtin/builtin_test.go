package builtin

import (
	"slices"
	"testing"

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
	for _, n := range []string{"tasks.sleep", "tasks.fail", "tasks.echo", "tasks.flaky"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s is not registered on the worker", n)
		}
		if slices.Contains(APITasks(), n) {
			t.Errorf("test-only task %s is in the API's default allow-list", n)
		}
	}
}
