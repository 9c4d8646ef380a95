package batch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDoSharesRoundTrips: while one send is in flight, the callers that
// arrive meanwhile go out together in the next, and each gets its
// round trip's outcome.
func TestDoSharesRoundTrips(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	errBoom := errors.New("boom")
	f := New(time.Second, func(_ context.Context, items []int) error {
		mu.Lock()
		batches = append(batches, append([]int(nil), items...))
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-release
			return nil
		}
		return errBoom
	})
	first := make(chan error, 1)
	go func() { first <- f.Do(context.Background(), 0) }()
	for { // wait until the first send is in flight
		mu.Lock()
		n := len(batches)
		mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f.Do(context.Background(), i+1) }()
	}
	for { // all three queued behind the first
		f.mu.Lock()
		n := len(f.pending)
		f.mu.Unlock()
		if n == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, errBoom) {
			t.Errorf("caller %d: %v, want the second batch's error", i+1, err)
		}
	}
	f.Wait()
	if len(batches) != 2 || len(batches[1]) != 3 {
		t.Fatalf("batches = %v, want [[0] [three items]]", batches)
	}
}

// TestEnqueueWaitClose: queued items are all sent before Wait returns;
// after Close, Enqueue refuses.
func TestEnqueueWaitClose(t *testing.T) {
	var mu sync.Mutex
	got := 0
	f := New(time.Second, func(_ context.Context, items []string) error {
		mu.Lock()
		got += len(items)
		mu.Unlock()
		return nil
	})
	for range 100 {
		if !f.Enqueue("e") {
			t.Fatal("Enqueue refused before Close")
		}
	}
	f.Close()
	mu.Lock()
	defer mu.Unlock()
	if got != 100 {
		t.Fatalf("sent %d items, want 100", got)
	}
	if f.Enqueue("late") {
		t.Fatal("Enqueue accepted after Close")
	}
}

// TestDoContextEnds: a caller waiting for the next batch returns when its
// context ends.
func TestDoContextEnds(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	f := New(time.Second, func(context.Context, []int) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return nil
	})
	go f.Do(context.Background(), 1)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Do(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	close(release)
	f.Wait()
}
