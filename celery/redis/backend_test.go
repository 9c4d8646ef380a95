package redis

import (
	"errors"
	"strings"
	"testing"

	"github.com/celeriac/celeriac/celery"
)

// TestGetMax: a result over the bound is measured in Redis, not read; one
// under it, and a missing one, read as Get does.
func TestGetMax(t *testing.T) {
	c, _ := newTestClient(t)
	b := c.Backend()
	ctx := testCtx(t)
	for id, size := range map[string]int{"small": 10, "big": 5000} {
		if _, err := b.Store(ctx, &celery.ResultMeta{TaskID: id, Status: celery.StateSuccess, Result: strings.Repeat("x", size)}); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := b.GetMax(ctx, "small", 1000); err != nil || m.Status != celery.StateSuccess {
		t.Errorf("GetMax(small) = %v, %v", m, err)
	}
	if m, err := b.GetMax(ctx, "missing", 1000); err != nil || m.Status != celery.StatePending {
		t.Errorf("GetMax(missing) = %v, %v", m, err)
	}
	_, err := b.GetMax(ctx, "big", 1000)
	var tl *celery.ResultTooLargeError
	if !errors.As(err, &tl) || tl.TaskID != "big" || tl.Size < 5000 || tl.Limit != 1000 {
		t.Errorf("GetMax(big) = %v, want a ResultTooLargeError", err)
	}
	if _, err := b.WaitMax(ctx, "big", 1000); !errors.As(err, &tl) {
		t.Errorf("WaitMax(big) = %v, want a ResultTooLargeError", err)
	}
	if m, err := b.GetMax(ctx, "big", 0); err != nil || m.Status != celery.StateSuccess {
		t.Errorf("GetMax(big, no bound) = %v, %v", m, err)
	}
}
