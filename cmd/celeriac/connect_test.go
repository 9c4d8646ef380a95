package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

func TestStartupRetryDelays(t *testing.T) {
	// kombu's ensure_connection as Celery's worker uses it: 2 s, +2 s per
	// attempt, at most 30 s.
	want := []time.Duration{2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 30, 30}
	for i, w := range want {
		if got := startupRetry.delay(i + 1); got != w*time.Second {
			t.Errorf("delay(%d) = %v, want %v", i+1, got, w*time.Second)
		}
	}
	if startupRetry.attempts != 100 {
		t.Errorf("attempts = %d, want Celery's broker_connection_max_retries 100", startupRetry.attempts)
	}
}

func TestWaitForBroker(t *testing.T) {
	fast := retryPolicy{start: time.Millisecond, step: time.Millisecond, max: 2 * time.Millisecond, attempts: 5}
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	failing := func(n int, err error) (func(context.Context) error, *int) {
		calls := 0
		return func(context.Context) error {
			calls++
			if calls <= n {
				return err
			}
			return nil
		}, &calls
	}
	t.Run("comes up later", func(t *testing.T) {
		var logs bytes.Buffer
		ping, calls := failing(3, refused)
		if err := waitForBroker(context.Background(), ping, "redis://:secret@h:1/0", fast, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		if *calls != 4 {
			t.Errorf("%d pings, want 4", *calls)
		}
		for _, want := range []string{"Cannot connect to redis://:***@h:1/0: dial tcp", "(1/5)", "(2/5)", "(3/5)", "attempt=3", "delay=2ms", "connected to the broker"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, logs.String())
			}
		}
		if strings.Contains(logs.String(), "secret") || strings.Count(logs.String(), "Trying again") != 3 {
			t.Errorf("want 3 retry lines and no password:\n%s", logs.String())
		}
	})
	t.Run("gives up", func(t *testing.T) {
		ping, calls := failing(100, refused)
		err := waitForBroker(context.Background(), ping, "redis://h:1/0", fast, slog.New(slog.DiscardHandler))
		if err == nil || !errors.Is(err, refused) || *calls != 6 {
			t.Errorf("err = %v after %d pings, want the dial error after 6", err, *calls)
		}
	})
	t.Run("auth error at once", func(t *testing.T) {
		ping, calls := failing(100, redis.Error("WRONGPASS invalid username-password pair"))
		err := waitForBroker(context.Background(), ping, "redis://h:1/0", fast, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "refused the connection") || *calls != 1 {
			t.Errorf("err = %v after %d pings, want a refusal after 1", err, *calls)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		slow := retryPolicy{start: time.Hour, max: time.Hour, attempts: 5}
		ping, _ := failing(100, refused)
		time.AfterFunc(20*time.Millisecond, cancel)
		if err := waitForBroker(ctx, ping, "redis://h:1/0", slow, slog.New(slog.DiscardHandler)); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}
