package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/redistest"
)

func TestIsUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{io.EOF, true},
		{fmt.Errorf("celery: publish: %w", io.EOF), true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{syscall.ECONNRESET, true},
		{markLoading(redigo.Error("LOADING Redis is loading the dataset in memory")), true},
		{fmt.Errorf("celery: get: %w", markLoading(redigo.Error("LOADING Redis is loading"))), true},
		{markLoading(redigo.Error("WRONGTYPE Operation against a key holding the wrong kind of value")), false},
		{celery.ErrClosed, false},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{errors.New("other"), false},
	} {
		if got := celery.IsUnavailable(c.err); got != c.want {
			t.Errorf("celery.IsUnavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// loadingReplier answers every command with Redis' LOADING error.
type loadingReplier struct{ redigo.Conn }

func (loadingReplier) Do(string, ...any) (any, error) {
	return nil, redigo.Error("LOADING Redis is loading the dataset in memory")
}

// TestLoadingConn: a command's LOADING reply through the Redis package's
// connections is an outage for celery.IsUnavailable, and still a
// redigo.Error for errors.As.
func TestLoadingConn(t *testing.T) {
	_, err := loadingConn{loadingReplier{}}.Do("GET", "k")
	var re redigo.Error
	if !celery.IsUnavailable(err) || !errors.As(err, &re) {
		t.Errorf("LOADING through loadingConn = %v (%T): IsUnavailable %v, redigo.Error %v", err, err, celery.IsUnavailable(err), errors.As(err, &re))
	}
}

// After Redis restarted, the pool's idle connections are dead; the first
// publish, result read and ping on them still succeed (one retry), and
// while Redis is down they fail within about a second.
func TestRetryAcrossRestart(t *testing.T) {
	srv := redistest.Start(t)
	c, err := newURLClient(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Fill the pool with idle connections.
	for range 3 {
		if _, err := c.SendTask(ctx, "tasks.add", celery.Args(1, 2)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart(t) // the idle connections are dead now
	if _, err := c.SendTask(ctx, "tasks.add", celery.Args(1, 2)); err != nil {
		t.Errorf("send after restart: %v", err)
	}
	if err := c.Broker().Ping(ctx); err != nil {
		t.Errorf("ping after restart: %v", err)
	}
	if _, err := c.Backend().Get(ctx, "some-id"); err != nil {
		t.Errorf("get after restart: %v", err)
	}
	srv.Stop()
	start := time.Now()
	if _, err := c.SendTask(ctx, "tasks.add"); err == nil || !celery.IsUnavailable(err) {
		t.Errorf("send while down: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("send while down took %v", d)
	}
}
