package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestRefreshBinding: the node re-declares its binding at each tick, a
// failure does not stop it, and it returns when its context ends.
func TestRefreshBinding(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	third := make(chan struct{})
	declare := func(context.Context) error {
		n := calls.Add(1)
		if n == 3 {
			close(third)
		}
		if n == 1 {
			return errors.New("redis down")
		}
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&pidboxNode{log: slog.New(slog.NewTextHandler(io.Discard, nil))}).refreshBinding(ctx, time.Millisecond, declare)
	}()
	select {
	case <-third:
	case <-time.After(10 * time.Second):
		t.Fatal("binding not refreshed three times")
	}
	cancel()
	<-done
}
