package testtasks

import (
	"context"
	"sync"
	"time"
)

// MemoryCounter is a Counter in the worker's memory, for a broker that
// keeps no counters (AMQP): tasks.flaky's attempts are counted per
// worker process.
type MemoryCounter struct {
	mu sync.Mutex
	m  map[string]memCount
}

type memCount struct {
	n       int64
	expires time.Time
}

// NewMemoryCounter returns an empty MemoryCounter.
func NewMemoryCounter() *MemoryCounter { return &MemoryCounter{m: map[string]memCount{}} }

// Incr adds one to key's counter, which expires ttl after this call, and
// returns its new value.
func (c *MemoryCounter) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, v := range c.m {
		if now.After(v.expires) {
			delete(c.m, k)
		}
	}
	v := c.m[key]
	v.n++
	v.expires = now.Add(ttl)
	c.m[key] = v
	return v.n, nil
}
