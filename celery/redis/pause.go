package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
)

// pausedKey is the hash of paused queues: queue -> celery.PausedQueue as
// JSON (docs/wire.md#key-names).
const pausedKey = "_celeriac.paused"

// SetPaused implements celery.PauseStore.
func (b *Broker) SetPaused(ctx context.Context, queue string, workers []string) (*celery.PausedQueue, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	p := celery.PausedQueue{Queue: queue, PausedAt: time.Now().UTC()}
	old, err := redigo.Bytes(redigo.DoContext(c, ctx, "HGET", b.key(pausedKey), queue))
	switch {
	case errors.Is(err, redigo.ErrNil):
	case err != nil:
		return nil, fmt.Errorf("celery: pause %s: %w", queue, err)
	default:
		if json.Unmarshal(old, &p) != nil {
			p = celery.PausedQueue{Queue: queue, PausedAt: time.Now().UTC()}
		}
	}
	for _, w := range workers {
		if !slices.Contains(p.Workers, w) {
			p.Workers = append(p.Workers, w)
		}
	}
	sort.Strings(p.Workers)
	if p.Workers == nil {
		p.Workers = []string{}
	}
	rec, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if _, err := redigo.DoContext(c, ctx, "HSET", b.key(pausedKey), queue, rec); err != nil {
		return nil, fmt.Errorf("celery: pause %s: %w", queue, err)
	}
	return &p, nil
}

// TakePaused implements celery.PauseStore.
func (b *Broker) TakePaused(ctx context.Context, queue string) (*celery.PausedQueue, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.Send("MULTI")
	c.Send("HGET", b.key(pausedKey), queue)
	c.Send("HDEL", b.key(pausedKey), queue)
	vals, err := redigo.Values(redigo.DoContext(c, ctx, "EXEC"))
	if err != nil {
		return nil, fmt.Errorf("celery: resume %s: %w", queue, err)
	}
	raw, err := redigo.Bytes(vals[0], nil)
	if errors.Is(err, redigo.ErrNil) {
		return nil, fmt.Errorf("%w: %s", celery.ErrNotPaused, queue)
	}
	var p celery.PausedQueue
	if err != nil || json.Unmarshal(raw, &p) != nil {
		return nil, fmt.Errorf("celery: resume %s: bad record %q", queue, raw)
	}
	return &p, nil
}

// PausedQueues implements celery.PauseStore, sorted by queue.
func (b *Broker) PausedQueues(ctx context.Context) ([]celery.PausedQueue, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	m, err := redigo.StringMap(redigo.DoContext(c, ctx, "HGETALL", b.key(pausedKey)))
	if err != nil {
		return nil, fmt.Errorf("celery: paused queues: %w", err)
	}
	out := make([]celery.PausedQueue, 0, len(m))
	for q, raw := range m {
		var p celery.PausedQueue
		if json.Unmarshal([]byte(raw), &p) != nil {
			p = celery.PausedQueue{Queue: q}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue < out[j].Queue })
	return out, nil
}

var _ celery.PauseStore = (*Broker)(nil)
