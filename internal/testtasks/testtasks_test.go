package testtasks

import (
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNames: Register registers Names, none of which the API sends by
// default, and none that builtin.Register registers too.
func TestNames(t *testing.T) {
	mux := worker.NewServeMux()
	Register(mux, nil)
	builtin.Register(mux) // would panic on a name registered twice
	names := mux.Names()
	for _, n := range Names() {
		if !slices.Contains(names, n) {
			t.Errorf("%s is not registered", n)
		}
		if slices.Contains(builtin.APITasks(), n) {
			t.Errorf("test-only task %s is in the API's default allow-list", n)
		}
	}
}
