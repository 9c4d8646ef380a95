//go:build integration

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/proctest"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/internal/redistest"
	"github.com/celeriac/celeriac/internal/testtasks"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

// binary is the celeriac binary built once for the package (TestMain).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "celeriac-it-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "celeriac")
	// make soak (CELERIAC_SOAK=1) measures memory and runs long: no -race.
	race := "-race"
	if os.Getenv("CELERIAC_SOAK") == "1" {
		race = "-race=false"
	}
	build := exec.Command("go", "build", race, "-o", binary, "../cmd/celeriac")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		panic("building celeriac: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's private Redis plus a Go client on it.
type env struct {
	Redis   *redistest.Server
	URL     string
	Client  *celery.Client
	Broker  *credis.Broker  // the Client's
	Backend *credis.Backend // the Client's
}

func newEnv(t *testing.T, opts ...redistest.Option) *env {
	t.Helper()
	srv := redistest.Start(t, opts...)
	url := srv.URL(0)
	br, be, err := credis.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	c := celery.NewClient(br, be, celery.WithOwnership())
	t.Cleanup(func() { c.Close() })
	return &env{Redis: srv, URL: url, Client: c, Broker: br, Backend: be}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startGoWorker runs an in-process Go worker with the built-in tasks until
// the test ends (warm shutdown at Cleanup). Extra handlers can be added via
// register.
func startGoWorker(t *testing.T, url string, register func(*worker.ServeMux), opts ...worker.Option) *worker.Worker {
	t.Helper()
	w, _ := runGoWorker(t, url, register, opts...)
	return w
}

// runGoWorker is startGoWorker that also returns a stop function, for
// tests that end the worker early (stop is idempotent and runs at Cleanup).
func runGoWorker(t *testing.T, url string, register func(*worker.ServeMux), opts ...worker.Option) (*worker.Worker, func()) {
	t.Helper()
	broker, err := credis.NewBroker(url)
	if err != nil {
		t.Fatal(err)
	}
	backend := credis.NewBackendOn(broker)
	mux := worker.NewServeMux()
	builtin.Register(mux)
	testtasks.Register(mux, broker)
	if register != nil {
		register(mux)
	}
	w := worker.New(broker, backend, mux, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker.Run: %v", err)
			}
			backend.Close()
			broker.Close()
		})
	}
	t.Cleanup(stop)
	return w, stop
}

// proc is a subprocess of a test (celeriac, Flower, ...).
type proc = proctest.Proc

// startBinary runs `celeriac args...`, waits until its output contains
// ready (if not empty), and kills it at Cleanup.
func startBinary(t *testing.T, ready string, args ...string) *proc {
	t.Helper()
	p := startProc(t, exec.Command(binary, args...), "celeriac "+strings.Join(args, " "), 20*time.Second)
	if ready != "" {
		p.WaitLog(t, ready, 30*time.Second)
	}
	return p
}

// startProc starts cmd with its output captured, and at Cleanup stops it
// (SIGTERM, then SIGKILL after stopWait) and logs its output if the test
// failed.
func startProc(t *testing.T, cmd *exec.Cmd, label string, stopWait time.Duration) *proc {
	t.Helper()
	return proctest.Start(t, cmd, label, stopWait)
}

// pyResult is what client.py get prints.
type pyResult struct {
	State     string         `json:"state"`
	Result    any            `json:"result"`
	Traceback *string        `json:"traceback"`
	Name      string         `json:"name"`
	Args      []any          `json:"args"`
	Kwargs    map[string]any `json:"kwargs"`
	Worker    string         `json:"worker"`
	Retries   int            `json:"retries"`
	Queue     string         `json:"queue"`
	DateDone  string         `json:"date_done"`
}

// pySend sends a task with the Python client and returns its id.
func pySend(t *testing.T, url string, args ...string) string {
	t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	pypeer.RunJSON(t, url, &out, "client.py", append([]string{"send"}, args...)...)
	return out.ID
}

// pyGet waits for a result with Python's AsyncResult.get.
func pyGet(t *testing.T, url, id string) pyResult {
	t.Helper()
	var r pyResult
	pypeer.RunJSON(t, url, &r, "client.py", "get", id, "--timeout", "30")
	return r
}
