package testtasks

import (
	"context"
	"testing"
	"time"
)

func TestMemoryCounter(t *testing.T) {
	c := NewMemoryCounter()
	ctx := context.Background()
	for want := int64(1); want <= 3; want++ {
		if n, err := c.Incr(ctx, "k", time.Hour); err != nil || n != want {
			t.Fatalf("Incr = %d, %v; want %d", n, err, want)
		}
	}
	if n, _ := c.Incr(ctx, "other", time.Nanosecond); n != 1 {
		t.Fatalf("another key: %d", n)
	}
	time.Sleep(time.Millisecond)
	if n, _ := c.Incr(ctx, "other", time.Hour); n != 1 {
		t.Errorf("an expired counter starts again: %d, want 1", n)
	}
}
