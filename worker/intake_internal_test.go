package worker

import (
	"context"
	"testing"
)

// fullWindow returns a prefetch window of size slots with all but free
// of them taken.
func fullWindow(size, free int) *window {
	w := newWindow(size)
	for range size - free {
		w.tryAcquire()
	}
	return w
}

// TestFetchBatchesWhileFed: while every runner has work waiting and more,
// a fetch waits for a quarter of the prefetch window rather than taking
// the one slot a finished task freed.
func TestFetchBatchesWhileFed(t *testing.T) {
	in := &intake{slots: fullWindow(32, 1), queued: func() (int, int) { return 20, 8 }}
	got := make(chan int, 1)
	go func() { got <- in.acquireSlots(context.Background()) }()
	for range 7 { // seven more tasks finish
		in.slots.release()
	}
	if n := <-got; n != 8 {
		t.Errorf("acquireSlots = %d, want a batch of 8", n)
	}
}

// TestFetchAtOnceWhenHungry: a pool whose runners lack work (or whose
// queue holds no more than a batch beyond them) fetches at once with what
// is free.
func TestFetchAtOnceWhenHungry(t *testing.T) {
	for _, ready := range []int{0, 8, 15} {
		in := &intake{slots: fullWindow(32, 1), queued: func() (int, int) { return ready, 8 }}
		if n := in.acquireSlots(context.Background()); n != 1 {
			t.Errorf("ready %d: acquireSlots = %d, want 1 (at once)", ready, n)
		}
	}
	// A window of one runner's size (prefetch multiplier 1) never waits:
	// its queue cannot hold a request for every runner and a batch more.
	in := &intake{slots: fullWindow(8, 1), queued: func() (int, int) { return 7, 8 }}
	if n := in.acquireSlots(context.Background()); n != 1 {
		t.Errorf("window 8: acquireSlots = %d, want 1", n)
	}
}

// TestFetchBatchCancelled: a fetch waiting for its batch when ctx ends
// gives back the slots it took.
func TestFetchBatchCancelled(t *testing.T) {
	in := &intake{slots: fullWindow(32, 3), queued: func() (int, int) { return 20, 8 }}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan int, 1)
	go func() { got <- in.acquireSlots(ctx) }()
	cancel()
	if n := <-got; n != 0 {
		t.Errorf("acquireSlots = %d after cancel, want 0", n)
	}
	in.slots.mu.Lock()
	used := in.slots.used
	in.slots.mu.Unlock()
	if used != 29 {
		t.Errorf("%d slots used after a cancelled fetch, want 29 (none kept)", used)
	}
}
