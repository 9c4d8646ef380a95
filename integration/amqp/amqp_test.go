//go:build integration

// Package amqp holds the integration tests of the AMQP transport: a
// private RabbitMQ node (internal/rabbittest) shared by the package, a
// virtual host per test, Python Celery 5.7 peers on py-amqp, and Redis
// for results.
package amqp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	amqp091 "github.com/rabbitmq/amqp091-go"

	camqp "github.com/celeriac/celeriac/celery/amqp"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/proctest"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/internal/rabbittest"
	"github.com/celeriac/celeriac/internal/redistest"
)

var (
	node   *rabbittest.Node
	binary string // the celeriac binary, built once
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// With an AMQPS listener too (TestAMQPSClientCertificates).
	n, err := rabbittest.New(rabbittest.WithTLS())
	if errors.Is(err, rabbittest.ErrNoRabbitMQ) && !rabbittest.Required() {
		fmt.Println("skipping the AMQP integration tests:", err)
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer n.Close()
	node = n
	dir, err := os.MkdirTemp("", "celeriac-amqp-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "celeriac")
	build := exec.Command("go", "build", "-race", "-o", binary, "../../cmd/celeriac")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building celeriac:", err)
		return 1
	}
	return m.Run()
}

// env is one test's virtual host on the shared node, a private Redis for
// results, and a Go client on both.
type env struct {
	URL     string // amqp:// of the test's vhost
	Results string // redis:// result backend
	Redis   *redistest.Server
	Client  *celery.Client
	Broker  *camqp.Broker
	Backend *credis.Backend
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := node.VHost(t)
	srv := redistest.Start(t)
	br, err := camqp.NewBroker(url)
	if err != nil {
		t.Fatal(err)
	}
	be, err := credis.NewBackend(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	c := celery.NewClient(br, be, celery.WithOwnership())
	t.Cleanup(func() { c.Close() })
	return &env{URL: url, Results: srv.URL(0), Redis: srv, Client: c, Broker: br, Backend: be}
}

// channel opens a channel of its own on the test's vhost (a raw AMQP
// client beside the peers), closed when the test ends.
func (e *env) channel(t *testing.T) *amqp091.Channel {
	t.Helper()
	conn, err := amqp091.Dial(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// waitBelow returns once fewer than n messages wait in queue (a drain
// under way), checking every 20 ms.
func (e *env) waitBelow(ctx context.Context, t *testing.T, queue string, n int) {
	t.Helper()
	for {
		left, err := e.Broker.QueueLength(ctx, queue)
		if err != nil {
			t.Fatal(err)
		}
		if left < n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// py returns a Python client command on e's broker and backend.
func (e *env) py() pypeer.Cmd { return pypeer.Cmd{BrokerURL: e.URL, ResultBackend: e.Results} }

// pySend sends a task with the Python client and returns its id.
func (e *env) pySend(t *testing.T, args ...string) string {
	t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	e.py().RunJSON(t, &out, "client.py", append([]string{"send"}, args...)...)
	return out.ID
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
}

// pyGet waits for a result with Python's AsyncResult.get.
func (e *env) pyGet(t *testing.T, id string) pyResult {
	t.Helper()
	var r pyResult
	e.py().RunJSON(t, &r, "client.py", "get", id, "--timeout", "60")
	return r
}

// proc is a subprocess of a test.
type proc = proctest.Proc

// startWorker runs `celeriac worker` on e's vhost and Redis results with
// extra args, waits until it is ready, and stops it at Cleanup.
func (e *env) startWorker(t *testing.T, args ...string) *proc {
	t.Helper()
	// --result-extended: the tests check which worker ran a task.
	p := startCeleriac(t, append([]string{"worker", "-b", e.URL, "--result-backend", e.Results, "--loglevel", "info", "--result-extended"}, args...)...)
	p.WaitLog(t, "ready", 60*time.Second)
	return p
}

// startCeleriac runs `celeriac all...` and stops it at Cleanup (SIGTERM,
// then SIGKILL after 30 s).
func startCeleriac(t *testing.T, all ...string) *proc {
	t.Helper()
	return proctest.Start(t, exec.Command(binary, all...), "celeriac "+strings.Join(all, " "), 30*time.Second)
}

// celeriac runs a celeriac command to its end and returns its output and
// exit code.
func celeriac(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("celeriac %v: %v\n%s", args, err, out)
	}
	return string(out), 0
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
