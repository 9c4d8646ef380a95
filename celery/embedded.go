package celery

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// Embedded is an in-process Redis (miniredis) for `make run`, examples and
// demos: no redis-server needed. Python Celery clients, workers and Flower
// can use it through its URL. It keeps everything in memory.
type Embedded struct {
	mr *miniredis.Miniredis
}

// StartEmbedded starts an embedded Redis listening on addr, e.g.
// "127.0.0.1:6379" or "127.0.0.1:0" for a free port.
func StartEmbedded(addr string) (*Embedded, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("celery: embedded broker on %s: %w", addr, err)
	}
	return &Embedded{mr: mr}, nil
}

// URL returns the redis:// URL of database 0.
func (e *Embedded) URL() string { return "redis://" + e.mr.Addr() + "/0" }

// Addr returns host:port.
func (e *Embedded) Addr() string { return e.mr.Addr() }

// Close stops the server.
func (e *Embedded) Close() { e.mr.Close() }
