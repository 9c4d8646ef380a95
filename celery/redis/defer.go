package redis

import (
	"context"
	"fmt"
	"strconv"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/kombu"
)

// Defer implements celery.Deferrer: it moves each delivery's
// unacked_index score to its Until (docs/wire.md#eta-once). A visibility
// sweep, Go's or kombu's restore_visible, restores a tag whose score is
// older than now minus the visibility timeout, so the held message stays
// unacked until Until plus the visibility timeout: past it only when its
// holder died (a live holder runs it at Until and acknowledges it). Each
// record is confirmed first (Settle), so that the new score never
// reaches Redis before the record; ZADD XX never brings back an entry
// that was acknowledged or restored meanwhile.
func (b *Broker) Defer(ctx context.Context, ds ...celery.Deferral) error {
	args := []any{b.key(kombu.UnackedIndexKey), "XX"}
	for _, df := range ds {
		d := df.Delivery
		if d == nil || d.Settle() != nil || !d.Tracked {
			continue
		}
		score := float64(df.Until.UnixMicro()) / 1e6
		args = append(args, strconv.FormatFloat(score, 'f', 6, 64), d.Tag)
	}
	if len(args) == 2 {
		return nil
	}
	return withRetry(ctx, func() error {
		c, err := b.conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := redigo.DoContext(c, ctx, "ZADD", args...); err != nil {
			return fmt.Errorf("celery: defer visibility: %w", err)
		}
		return nil
	})
}

var _ celery.Deferrer = (*Broker)(nil)
