package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestAutoscalerScales(t *testing.T) {
	p := newPool(1, func(context.Context, *request) {})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.start(ctx)
	defer func() { <-p.shutdown() }()
	qty, window := 0, 0
	a := &autoscaler{pool: p, qty: func() int { return qty }, window: func(n int) { window = n },
		log: slog.New(slog.DiscardHandler), keepalive: time.Hour, max: 4, min: 2, lastActive: time.Now()}
	defer a.shutdown()
	size := func() int { return int(p.size.Load()) }

	qty = 10
	a.maybeScale(true)
	if size() != 4 {
		t.Errorf("10 held, max 4: size %d", size())
	}
	qty = 0
	a.maybeScale(false)
	if size() != 4 {
		t.Errorf("scaled down within the keepalive: size %d", size())
	}
	a.mu.Lock()
	a.lastActive = time.Now().Add(-2 * time.Hour)
	a.mu.Unlock()
	a.maybeScale(false)
	if size() != 2 {
		t.Errorf("after the keepalive, min 2: size %d", size())
	}
	one, six := 1, 6
	if mx, mn := a.update(&six, &one); mx != 6 || mn != 1 || window != 6 {
		t.Errorf("update(6, 1) = %d, %d, window %d", mx, mn, window)
	}
	two := 2
	a.update(&two, nil)
	if size() != 2 {
		t.Errorf("update(max 2): size %d", size())
	}
	three := 3
	a.update(nil, &three)
	if size() != 3 || a.info().Current != 3 {
		t.Errorf("update(min 3): size %d, info %+v", size(), a.info())
	}
}
