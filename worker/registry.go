package worker

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// registry is the worker's bookkeeping of requests, shared by its
// components under one mutex: requests taken and not yet settled
// (reserved, then active while they run), the revoked ids, the per-task
// counts of stats, and the requests given up at the shutdown timeout.
type registry struct {
	mu       sync.Mutex
	reserved map[string]*request // by delivery tag: taken, not running
	active   map[string]*request // by delivery tag: running
	revoked  *revokedSet
	total    map[string]int // tasks started, by name (stats)
	seq      uint64         // arrival counter (request.seq)
	// givenUp are the requests given up at the shutdown timeout, whose
	// messages Run restores.
	givenUp []*request
}

// request is one delivery on its way through the worker.
type request struct {
	d        *celery.Delivery
	msg      *celery.Message
	entry    *entry
	handler  Handler
	started  time.Time
	cancel   context.CancelCauseFunc
	hasSlot  bool
	acked    bool
	isActive bool
	killed   bool
	unsaved  bool          // its final result or retry could not be stored
	settle   settlement    // how a late-acknowledged message is settled
	task     *Task         // what the handler got, once it runs
	cause    error         // the error a failure is stored for (hooks)
	kill     chan struct{} // closed by revoke(terminate=True)
	signum   int
	seq      uint64 // arrival order, for inspect listings
}

func (r *request) acksLate(w *Worker) bool {
	if r.entry != nil && r.entry.opts.AcksLate != nil {
		return *r.entry.opts.AcksLate
	}
	return w.o.acksLate
}

// giveUpAtShutdown records a running request given up at the shutdown
// timeout; Run restores its message (abandonedAtShutdown).
func (w *Worker) giveUpAtShutdown(r *request) {
	w.reg.mu.Lock()
	w.reg.givenUp = append(w.reg.givenUp, r)
	w.reg.mu.Unlock()
}

// abandonedAtShutdown logs the requests given up at the shutdown timeout
// and returns those whose message is still unacknowledged (acks-late),
// to be restored. An early-acknowledged one is not restored: it was
// acknowledged before it ran (at most once), as a crash would lose it.
func (w *Worker) abandonedAtShutdown(log *slog.Logger) []*request {
	w.reg.mu.Lock()
	rs := w.reg.givenUp
	w.reg.givenUp = nil
	w.reg.mu.Unlock()
	if len(rs) == 0 {
		return nil
	}
	var restore []*request
	var restored, lost []string
	for _, r := range rs {
		w.reg.mu.Lock()
		acked := r.acked
		w.reg.mu.Unlock()
		if acked {
			lost = append(lost, r.msg.ID)
			w.forget(r)
			continue
		}
		restored = append(restored, r.msg.ID)
		restore = append(restore, r)
	}
	log.Warn("shutdown timeout: gave up on running tasks; unacknowledged ones go back to their queues",
		"restored_task_ids", restored, "early_acked_not_restored_task_ids", lost)
	return restore
}

func (w *Worker) forget(r *request) {
	w.reg.mu.Lock()
	delete(w.reg.reserved, r.d.Tag)
	delete(w.reg.active, r.d.Tag)
	w.reg.mu.Unlock()
}

// done releases a request's resources after it was acked or rejected.
func (w *Worker) done(r *request) {
	w.forget(r)
	w.giveBackSlot(r)
}

// restore puts messages the worker holds but never ran back on their
// queues, first-taken first out, and forgets their requests.
func (w *Worker) restore(rs []*request) {
	if len(rs) == 0 {
		return
	}
	// First taken, first restored: ETA-held requests come from a map.
	slices.SortStableFunc(rs, func(a, b *request) int { return cmp.Compare(a.seq, b.seq) })
	ds := make([]*celery.Delivery, 0, len(rs))
	for _, r := range rs {
		ds = append(ds, r.d)
		w.forget(r)
	}
	w.acker.restore(ds)
}
