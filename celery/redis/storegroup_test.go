package redis

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/redistest"
)

// storeMany stores a SUCCESS for tasks t0..t(n-1) from n goroutines at
// once and returns each caller's error.
func storeMany(ctx context.Context, be *Backend, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			id := "t" + strconv.Itoa(i)
			_, errs[i] = be.Store(ctx, &celery.ResultMeta{TaskID: id, Status: celery.StateSuccess, Result: i, DateDone: time.Now()})
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// TestGroupedSuccessStores: SUCCESSes stored at the same time from many
// goroutines are all written (with result_expires) and published.
func TestGroupedSuccessStores(t *testing.T) {
	c, srv := newTestClient(t, WithResultExpires(time.Minute))
	ctx := testCtx(t)
	be := c.Backend()
	const n = 64
	sub := srv.Dial(t)
	if _, err := sub.Do("PSUBSCRIBE", "celery-task-meta-t*"); err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "CONFIG", "RESETSTAT")
	for i, err := range storeMany(ctx, be, n) {
		if err != nil {
			t.Errorf("store t%d: %v", i, err)
		}
	}
	for i := range n {
		m, err := be.Get(ctx, "t"+strconv.Itoa(i))
		if err != nil || m.Status != celery.StateSuccess {
			t.Fatalf("t%d: %+v, %v", i, m, err)
		}
		if ttl := srv.Do(t, "TTL", "celery-task-meta-t"+strconv.Itoa(i)).(int64); ttl <= 0 || ttl > 60 {
			t.Errorf("t%d: TTL %d, want result_expires", i, ttl)
		}
	}
	published := map[string]bool{}
	for range n {
		reply, err := redigo.Values(redigo.ReceiveWithTimeout(sub, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := redigo.String(reply[2], nil)
		published[ch] = true
	}
	if len(published) != n {
		t.Errorf("%d distinct results published, want %d", len(published), n)
	}
	// How many MULTIs they took depends on timing: logged, not asserted.
	stats, _ := redigo.String(srv.Do(t, "INFO", "commandstats"), nil)
	for line := range strings.SplitSeq(stats, "\n") {
		if strings.HasPrefix(line, "cmdstat_exec:") {
			t.Logf("%d results stored: %s", n, strings.TrimSpace(line))
		}
	}
}

// TestGroupedStoresRefused: when Redis refuses the writes (maxmemory,
// noeviction), every caller of a group learns it; none is told its result
// was stored.
func TestGroupedStoresRefused(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--maxmemory-policy", "noeviction"))
	c, err := newURLClient(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t)
	be := c.Backend()
	if _, err := be.Store(ctx, &celery.ResultMeta{TaskID: "warm", Status: celery.StateSuccess, Result: 1}); err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "CONFIG", "SET", "maxmemory", "1")
	defer srv.Do(t, "CONFIG", "SET", "maxmemory", "0")
	for i, err := range storeMany(ctx, be, 32) {
		if err == nil {
			t.Errorf("t%d: stored at maxmemory", i)
		}
	}
	if n, _ := redigo.Int(srv.Do(t, "EXISTS", "celery-task-meta-t0"), nil); n != 0 {
		t.Error("a result was written at maxmemory")
	}
}

// TestGroupedStoreCancelled: a caller whose context ends while another
// caller's group write is under way returns its context's error at once,
// and the write still completes for the others.
func TestGroupedStoreCancelled(t *testing.T) {
	c, _ := newTestClient(t)
	be := c.Backend()
	g := &be.group
	// Hold the leader's place so that the next caller queues.
	g.mu.Lock()
	g.leading = true
	g.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := be.Store(ctx, &celery.ResultMeta{TaskID: "late", Status: celery.StateSuccess, Result: 1})
		errc <- err
	}()
	for {
		g.mu.Lock()
		queued := len(g.pending)
		g.mu.Unlock()
		if queued == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("Store returned nil after its context ended unwritten")
	}
	// The leader's turn: it writes what was queued, the abandoned request too.
	g.mu.Lock()
	g.lead(context.Background(), be.pool)
	m, err := be.Get(testCtx(t), "late")
	if err != nil || m.Status != celery.StateSuccess {
		t.Errorf("late: %+v, %v", m, err)
	}
}
