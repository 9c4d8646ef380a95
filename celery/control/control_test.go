package control_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/internal/redistest"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBroadcastToGoWorker(t *testing.T) {
	srv := redistest.Start(t)
	client, err := celery.NewClient(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	mux := worker.NewServeMux()
	builtin.Register(mux, client.Broker())
	w := worker.New(client.Broker(), client.Backend(), mux, worker.WithHostname("go@ctl"), worker.WithConcurrency(1))
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := control.New(client.Broker())
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := c.Ping(ctx, 200*time.Millisecond, "go@ctl")
		if err == nil && p["go@ctl"] != nil {
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
