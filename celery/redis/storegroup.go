package redis

import (
	"context"
	"fmt"
	"sync"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/rconn"
)

// maxStoreGroup bounds how many results one MULTI writes.
const maxStoreGroup = 128

// storeGroup writes concurrent SUCCESS results together (group commit):
// the first caller to find no write under way becomes the leader and
// sends every result queued meanwhile in one MULTI on one connection (a
// SETEX or SET and a PUBLISH each), then wakes their callers. A worker
// whose pool finishes several tasks at once thus pays one round trip, one
// MULTI/EXEC and one pair of socket calls for all of them, on its side
// and on Redis'. No goroutine of its own: callers take turns leading, and
// a leader keeps writing until nothing is queued, so that no caller waits
// for a leader that left.
type storeGroup struct {
	mu      sync.Mutex
	pending []*storeReq
	leading bool
	free    sync.Pool // *storeReq
}

// storeReq is one queued result write.
type storeReq struct {
	key  string
	raw  []byte
	secs int           // SETEX seconds; 0 = SET, no expiry
	done chan struct{} // receives once the write ended (buffered: 1)
	err  error
}

// store writes raw under key (with secs expiry, if > 0) and publishes it
// on the channel named key, together with whatever other results are
// queued. It returns the write's error: a connection failure, or Redis'
// refusal of this result (or of the whole MULTI).
func (g *storeGroup) store(ctx context.Context, pool *redigo.Pool, key string, raw []byte, secs int) error {
	req, _ := g.free.Get().(*storeReq)
	if req == nil {
		req = &storeReq{done: make(chan struct{}, 1)}
	}
	req.key, req.raw, req.secs, req.err = key, raw, secs, nil
	g.mu.Lock()
	g.pending = append(g.pending, req)
	if g.leading {
		g.mu.Unlock()
		select {
		case <-req.done:
		case <-ctx.Done():
			// The leader still writes it (or has): the request is not
			// reused, and the caller learns only that it gave up.
			return fmt.Errorf("celery: store result: %w", context.Cause(ctx))
		}
	} else {
		g.leading = true
		g.lead(ctx, pool) // writes req among the first batch
		<-req.done
	}
	err := req.err
	req.key, req.raw, req.err = "", nil, nil
	g.free.Put(req)
	return err
}

// lead writes batches until none is queued; g.mu is held on entry and
// released on return.
func (g *storeGroup) lead(ctx context.Context, pool *redigo.Pool) {
	var batch []*storeReq
	for len(g.pending) > 0 {
		n := min(len(g.pending), maxStoreGroup)
		batch = append(batch[:0], g.pending[:n]...)
		rest := copy(g.pending, g.pending[n:])
		clear(g.pending[rest:])
		g.pending = g.pending[:rest]
		g.mu.Unlock()
		writeGroup(ctx, pool, batch)
		for _, r := range batch {
			r.done <- struct{}{}
		}
		clear(batch)
		g.mu.Lock()
	}
	g.leading = false
	g.mu.Unlock()
}

// writeGroup sends batch in one MULTI and sets each request's err. The
// leader's ctx is used to get a connection only: the MULTI, once sent,
// is read to its end (bounded by the connection's read timeout), as the
// other callers' results are in it.
func writeGroup(ctx context.Context, pool *redigo.Pool, batch []*storeReq) {
	fail := func(err error) {
		for _, r := range batch {
			r.err = err
		}
	}
	c, err := pool.GetContext(context.WithoutCancel(ctx))
	if err != nil {
		fail(err)
		return
	}
	defer c.Close()
	c.Send("MULTI")
	for _, r := range batch {
		k, v := any(r.key), any(r.raw) // boxed once for both commands
		if r.secs > 0 {
			c.Send("SETEX", k, r.secs, v)
		} else {
			c.Send("SET", k, v)
		}
		c.Send("PUBLISH", k, v)
	}
	reply, err := c.Do("EXEC")
	if err != nil {
		fail(err)
		return
	}
	vals, ok := reply.([]any)
	if !ok || len(vals) != 2*len(batch) {
		fail(rconn.ErrTxAborted)
		return
	}
	for i, r := range batch {
		for _, v := range vals[2*i : 2*i+2] {
			if e, ok := v.(redigo.Error); ok && r.err == nil {
				r.err = e
			}
		}
	}
}
