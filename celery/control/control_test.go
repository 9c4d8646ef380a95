package control_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/celery/control"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/redistest"
	"github.com/celeriac/celeriac/internal/testtasks"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBroadcastToGoWorker(t *testing.T) {
	srv := redistest.Start(t)
	client, err := credis.NewClient(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	mux := worker.NewServeMux()
	builtin.Register(mux)
	testtasks.Register(mux, client.Publisher().(*credis.Broker))
	w := worker.New(client.Publisher().(*credis.Broker), client.Results().(*credis.Backend), mux, worker.WithHostname("go@ctl"), worker.WithConcurrency(1))
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := control.New(client.Publisher().(*credis.Broker))
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := c.Ping(ctx, 200*time.Millisecond, "go@ctl")
		if err == nil && p["go@ctl"].OK == "pong" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pong: %v %v", p, err)
		}
	}
	for _, tc := range []struct {
		name   string
		method string
		args   map[string]any
		dest   []string
		check  func(any) bool
	}{
		{"ping", "ping", nil, []string{"go@ctl"}, func(v any) bool { return v.(map[string]any)["ok"] == "pong" }},
		{"stats", "stats", nil, nil, func(v any) bool { _, ok := v.(map[string]any)["clock"].(string); return ok }},
		{"unknown", "bogus", nil, []string{"go@ctl"}, func(v any) bool { return v.(map[string]any)["error"] == "KeyError('bogus')" }},
		{"revoked", "revoked", nil, []string{"go@ctl"}, func(v any) bool { _, ok := v.([]any); return ok }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Inspect(ctx, tc.method, tc.args, 500*time.Millisecond, tc.dest...)
			if err != nil || len(got) != 1 || !tc.check(got["go@ctl"]) {
				t.Errorf("Inspect(%s) = %v, %v", tc.method, got, err)
			}
		})
	}
	typedGoWorker(ctx, t, c, "go@ctl")
	// Not addressed to it: no reply, empty result after the timeout.
	got, err := c.Inspect(ctx, "ping", nil, 200*time.Millisecond, "other@node")
	if err != nil || len(got) != 0 {
		t.Errorf("ping other = %v, %v", got, err)
	}
	if err := c.Revoke(ctx, []string{"some-id"}, false, ""); err != nil {
		t.Fatal(err)
	}
	// Reply queue and binding are cleaned up.
	conn := srv.Dial(t)
	if n, _ := conn.Do("SCARD", "_kombu.binding.reply.celery.pidbox"); n.(int64) != 0 {
		t.Errorf("reply bindings left: %v", n)
	}
}

// typedGoWorker checks the typed methods against a running Go worker.
func typedGoWorker(ctx context.Context, t *testing.T, c *control.Control, node string) {
	t.Helper()
	to := 2 * time.Second
	st, err := c.Stats(ctx, to, node)
	if s := st[node]; err != nil || s.PID == 0 || s.Clock == "" || s.Pool.MaxConcurrency != 1 || s.Broker.Transport != "redis" || s.Rusage.Unavailable || s.Abandoned == nil {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	aq, err := c.ActiveQueues(ctx, to, node)
	if q := aq[node]; err != nil || len(q) != 1 || q[0].Name != "celery" || q[0].Exchange.Type != "direct" {
		t.Errorf("ActiveQueues = %+v, %v", aq, err)
	}
	reg, err := c.Registered(ctx, to, node)
	if err != nil || !slices.Contains(reg[node], "tasks.add") {
		t.Errorf("Registered = %v, %v", reg, err)
	}
	for name, f := range map[string]func() (map[string][]control.TaskInfo, error){
		"active":   func() (map[string][]control.TaskInfo, error) { return c.Active(ctx, true, to, node) },
		"reserved": func() (map[string][]control.TaskInfo, error) { return c.Reserved(ctx, to, node) },
	} {
		if got, err := f(); err != nil || got[node] == nil || len(got[node]) != 0 {
			t.Errorf("%s = %#v, %v", name, got, err)
		}
	}
	if got, err := c.Scheduled(ctx, to, node); err != nil || got[node] == nil {
		t.Errorf("Scheduled = %#v, %v", got, err)
	}
	if got, err := c.QueryTask(ctx, []string{"nope"}, to, node); err != nil || got[node] == nil || len(got[node]) != 0 {
		t.Errorf("QueryTask = %#v, %v", got, err)
	}
	if got, err := c.Clock(ctx, to, node); err != nil || got[node].Clock <= 0 {
		t.Errorf("Clock = %v, %v", got, err)
	}
	if got, err := c.Conf(ctx, to, node); err != nil || got[node]["worker_concurrency"] == nil {
		t.Errorf("Conf = %v, %v", got, err)
	}
	if got, err := c.Report(ctx, to, node); err != nil || !strings.Contains(got[node].OK, "celeriac") {
		t.Errorf("Report = %v, %v", got, err)
	}
	// An error answer of an ok/error command is a Status, not an error.
	if got, err := c.RateLimit(ctx, "no.such.task", "1/s", to, node); err != nil || got[node].Error != "unknown task" || got[node].Err() == nil {
		t.Errorf("RateLimit(unknown) = %v, %v", got, err)
	}
	if got, err := c.RateLimit(ctx, "tasks.add", "10/s", to, node); err != nil || got[node] != control.OK("new rate limit set successfully") {
		t.Errorf("RateLimit = %v, %v", got, err)
	}
	if got, err := c.PoolGrow(ctx, 1, to, node); err != nil || got[node].OK != "pool will grow" {
		t.Errorf("PoolGrow = %v, %v", got, err)
	}
	if got, err := c.PoolShrink(ctx, 1, to, node); err != nil || got[node].OK != "pool will shrink" {
		t.Errorf("PoolShrink = %v, %v", got, err)
	}
}
