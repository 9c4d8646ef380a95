package redis

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/celeriac/celeriac/celery"

	redigo "github.com/gomodule/redigo/redis"
)

// TestPublishOneConcurrent checks that concurrent single publishes, which
// share round trips, all arrive, each sender's messages in its own order.
func TestPublishOneConcurrent(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	const senders, each = 16, 100
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				pub := celery.Publishing{Queue: "q", Body: []byte(strconv.Itoa(s) + ":" + strconv.Itoa(i))}
				if err := c.Broker().PublishOne(ctx, pub); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	raw, err := redigo.Strings(srv.Do(t, "LRANGE", "q", 0, -1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != senders*each {
		t.Fatalf("%d messages in q, want %d", len(raw), senders*each)
	}
	next := map[string]int{}
	for i := len(raw) - 1; i >= 0; i-- { // LPUSH: oldest last
		s, n, _ := cutInt(raw[i])
		if n != next[s] {
			t.Fatalf("sender %s: message %d arrived where %d was due", s, n, next[s])
		}
		next[s]++
	}
	// A cancelled context returns at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_ = c.Broker().PublishOne(cctx, celery.Publishing{Queue: "q", Body: []byte("x")})
}

func cutInt(s string) (string, int, bool) {
	sender, n, _ := strings.Cut(s, ":")
	i, err := strconv.Atoi(n)
	return sender, i, err == nil
}
