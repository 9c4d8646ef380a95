package beat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/celeriac/celeriac/celery"
)

// Message headers beat adds to every task it sends. Celery workers (Go
// and Python) ignore headers they do not know; a task can read them
// (Python: self.request.beat_due).
const (
	// HeaderDue is the due time the message was sent for (ISO 8601, UTC).
	HeaderDue = "beat_due"
	// HeaderEntry is the schedule entry's name.
	HeaderEntry = "beat_entry"
)

// ErrNotLeader is returned by operations that need the lock when this
// instance does not hold it.
var ErrNotLeader = errors.New("beat: not the leader")

// Beat sends the tasks of a schedule when they are due. Any number of
// Beats with the same name may run against one Redis: a lock with a lease
// picks the one that sends, and every send is fenced by the lock's token
// and recorded with the entry's last due time in one Lua script, so no due
// time is sent twice.
type Beat struct {
	store   Store
	client  *celery.Client
	entries []Entry
	o       options

	leader atomic.Bool
	state  map[string]time.Time // entry -> last due time handled (leader only)

	sent      *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	leaderG   prometheus.Gauge
	elections prometheus.Counter
}

type options struct {
	name, id     string
	lease        time.Duration
	lateWindow   time.Duration
	catchUp      CatchUp
	defaultQueue string
	routes       *celery.Routes // task_routes (routes.go); nil: none
	logger       *slog.Logger
	now          func() time.Time
	registerer   prometheus.Registerer
}

// Store keeps a Beat's lock and the last due time handled of each entry,
// shared by every Beat of the same name, and publishes each due message
// (Record). celery/redis.BeatStore implements it on the broker's Redis.
type Store interface {
	// Acquire takes the lock for instance id with a lease when it is
	// free and returns the new token; otherwise token is "" and held is
	// what is left of the holder's lease (negative: a lock without
	// expiry).
	Acquire(ctx context.Context, id string, lease time.Duration) (token string, held time.Duration, err error)
	// Renew extends the lease if token still holds the lock.
	Renew(ctx context.Context, token string, lease time.Duration) (bool, error)
	// Release frees the lock if token holds it.
	Release(ctx context.Context, token string) error
	// LastRuns returns the last due time handled per entry.
	LastRuns(ctx context.Context) (map[string]time.Time, error)
	// Record records entry's due time as handled and publishes pub (when
	// not nil) in one atomic step, fenced by token (celery.ErrLockLost)
	// and only if the stored due time is older; it returns the due time
	// stored and whether this call recorded it.
	Record(ctx context.Context, token, entry string, due time.Time, pub *celery.Publishing) (last time.Time, recorded bool, err error)
}

// Option configures New.
type Option func(*options)

// WithName names the schedule in logs. Default "default". Beats of the
// same schedule share one Store (one lock, one record of last runs):
// celery.NewBeatStore(broker, name) on Redis.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithInstanceID names this instance in the lock and logs. Default
// host:pid:random.
func WithInstanceID(id string) Option { return func(o *options) { o.id = id } }

// WithLease sets the lock's lease: the leader renews it every third of
// the lease, and a standby takes over at most this long after the leader
// died. Default 10 s.
func WithLease(d time.Duration) Option { return func(o *options) { o.lease = d } }

// WithLateWindow sets how late a due time may be and still be sent (each
// of them): a standby taking over, or a restart, sends the due times it
// finds within the window. Older ones follow WithCatchUp. Default 1 min,
// and at least twice the lease.
func WithLateWindow(d time.Duration) Option { return func(o *options) { o.lateWindow = d } }

// WithCatchUp sets what happens to due times older than the late window.
// Default CatchUpOnce.
func WithCatchUp(c CatchUp) Option { return func(o *options) { o.catchUp = c } }

// WithDefaultQueue sets the queue of entries that name none. Default
// "celery".
func WithDefaultQueue(q string) Option { return func(o *options) { o.defaultQueue = q } }

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegisterer registers the Beat's Prometheus metrics with r:
// celeriac_beat_sent_total{entry,task}, celeriac_beat_skipped_total{entry}
// (catch-up skips), celeriac_beat_leader (1 while this instance leads) and
// celeriac_beat_leadership_acquired_total. Default: not registered.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.registerer = r } }

// New returns a Beat that keeps its lock and last runs in store and sends
// entries through it (celery/redis.NewBeatStore(broker, name) on Redis). It
// checks the entries (unique names, a task, a schedule, arguments that
// encode).
func New(store Store, entries []Entry, opts ...Option) (*Beat, error) {
	if store == nil {
		return nil, errors.New("beat: no store")
	}
	host, _ := os.Hostname()
	o := options{
		name: "default", lease: 10 * time.Second, defaultQueue: celery.DefaultQueue,
		logger: slog.Default(), now: time.Now,
		id: host + ":" + strconv.Itoa(os.Getpid()) + ":" + strconv.FormatUint(rand.Uint64()%1e6, 10),
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.lease < 100*time.Millisecond {
		return nil, fmt.Errorf("beat: lease %v: want at least 100ms", o.lease)
	}
	if o.lateWindow == 0 {
		o.lateWindow = time.Minute
	}
	o.lateWindow = max(o.lateWindow, 2*o.lease)
	if err := o.checkRoutes(entries); err != nil {
		return nil, err
	}
	b := &Beat{
		store: store, o: o,
		// Only to build messages: store.Record publishes them.
		client: celery.NewClient(nil, nil, celery.WithDefaultQueue(o.defaultQueue)),
	}
	b.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "celeriac_beat_sent_total", Help: "Periodic tasks sent, by entry and task.",
	}, []string{"entry", "task"})
	b.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "celeriac_beat_skipped_total", Help: "Times missed due times of an entry were skipped (catch_up skip).",
	}, []string{"entry"})
	b.leaderG = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "celeriac_beat_leader", Help: "1 while this beat holds the lock and sends, else 0.",
	})
	b.elections = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "celeriac_beat_leadership_acquired_total", Help: "Times this beat became the leader.",
	})
	if o.registerer != nil {
		for _, c := range []prometheus.Collector{b.sent, b.skipped, b.leaderG, b.elections} {
			if err := o.registerer.Register(c); err != nil {
				return nil, fmt.Errorf("beat: metrics: %w", err)
			}
		}
	}
	seen := map[string]bool{}
	for _, e := range entries {
		switch {
		case e.Name == "":
			return nil, errors.New("beat: an entry has no name")
		case seen[e.Name]:
			return nil, fmt.Errorf("beat: entry %q: duplicate name", e.Name)
		case e.Task == "":
			return nil, fmt.Errorf("beat: entry %q: no task name", e.Name)
		case e.Schedule == nil:
			return nil, fmt.Errorf("beat: entry %q: no schedule", e.Name)
		case e.Priority < 0 || e.Priority > 9:
			return nil, fmt.Errorf("beat: entry %q: priority %d out of range 0-9", e.Name, e.Priority)
		}
		if iv, ok := e.Schedule.(Interval); ok && iv.D < time.Millisecond {
			return nil, fmt.Errorf("beat: entry %q: interval %v: want at least 1ms", e.Name, iv.D)
		}
		seen[e.Name] = true
		if _, err := b.encode(e, time.Unix(0, 0)); err != nil {
			return nil, fmt.Errorf("beat: entry %q: %w", e.Name, err)
		}
		b.entries = append(b.entries, e)
	}
	return b, nil
}

// IsLeader reports whether this instance holds the lock.
func (b *Beat) IsLeader() bool { return b.leader.Load() }

// Entries returns the schedule.
func (b *Beat) Entries() []Entry { return b.entries }

// Run schedules until ctx ends, then releases the lock (so a standby takes
// over at once) and returns nil. Redis errors are logged and retried.
func (b *Beat) Run(ctx context.Context) error {
	log := b.o.logger
	log.Info("beat: starting", "name", b.o.name, "instance", b.o.id, "entries", len(b.entries),
		"lease", b.o.lease, "late_window", b.o.lateWindow, "catch_up", b.o.catchUp.String())
	var (
		token     string
		renewedAt time.Time
		failing   bool // the last iteration had a Redis error
		failed    bool // this iteration had one
	)
	report := func(err error) {
		if !failing && !failed && ctx.Err() == nil {
			log.Warn("beat: redis error; retrying", "err", err)
		}
		failed = true
	}
	stepDown := func(why string) {
		if token != "" {
			log.Warn("beat: leadership lost", "instance", b.o.id, "token", token, "reason", why)
		}
		token = ""
		b.setLeader(false)
	}
	defer func() {
		if token == "" {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := b.releaseLock(rctx, token); err != nil {
			log.Warn("beat: could not release the lock", "err", err)
		} else {
			log.Info("beat: leadership released", "instance", b.o.id, "token", token)
		}
		b.setLeader(false)
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		wait := b.o.lease / 3
		failed = false
		if token == "" {
			tok, pttl, err := b.tryAcquire(ctx)
			switch {
			case err != nil:
				report(err)
			case tok != "":
				if err := b.loadState(ctx); err != nil {
					report(err)
					b.releaseLock(ctx, tok)
					break
				}
				token, renewedAt = tok, b.o.now()
				b.setLeader(true)
				b.elections.Inc()
				log.Info("beat: leadership acquired", "instance", b.o.id, "token", token)
				wait = 0
			default:
				// Sleep until the lease runs out, with a little jitter.
				wait = min(max(pttl, 5*time.Millisecond), b.o.lease/2) + rand.N(20*time.Millisecond)
			}
		} else {
			now := b.o.now()
			if now.Sub(renewedAt) >= b.o.lease/3 {
				ok, err := b.renewLock(ctx, token)
				switch {
				case err != nil:
					report(err)
					if now.Sub(renewedAt) >= b.o.lease {
						stepDown("lease expired: " + err.Error())
					}
				case !ok:
					stepDown("lock taken over")
				default:
					renewedAt = now
				}
			}
			if token != "" {
				next, err := b.tick(ctx, token, now)
				switch {
				case errors.Is(err, ErrNotLeader):
					stepDown("fenced: token no longer current")
				case err != nil:
					report(err)
				}
				if d := next.Sub(b.o.now()); !next.IsZero() && d < wait {
					wait = max(d, 0)
				}
				if d := renewedAt.Add(b.o.lease / 3).Sub(b.o.now()); d < wait {
					wait = max(d, 0)
				}
			}
		}
		if failed { // do not spin while Redis is down
			wait = max(wait, min(b.o.lease/10, 500*time.Millisecond))
		} else if failing {
			log.Info("beat: redis is back")
		}
		failing = failed
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

func (b *Beat) setLeader(on bool) {
	b.leader.Store(on)
	if on {
		b.leaderG.Set(1)
	} else {
		b.leaderG.Set(0)
	}
}

// tryAcquire returns a new token, or the time left on the holder's lease.
func (b *Beat) tryAcquire(ctx context.Context) (string, time.Duration, error) {
	token, held, err := b.store.Acquire(ctx, b.o.id, b.o.lease)
	if err != nil || token != "" {
		return token, 0, err
	}
	if held < 0 { // a lock without expiry (set by hand?): wait a lease
		b.o.logger.Warn("beat: the lock has no expiry; is it set by something else?", "name", b.o.name)
		return "", b.o.lease, nil
	}
	return "", held, nil
}

func (b *Beat) renewLock(ctx context.Context, token string) (bool, error) {
	return b.store.Renew(ctx, token, b.o.lease)
}

func (b *Beat) releaseLock(ctx context.Context, token string) error {
	return b.store.Release(ctx, token)
}

// loadState reads every entry's last due time from the store.
func (b *Beat) loadState(ctx context.Context) error {
	m, err := b.store.LastRuns(ctx)
	if err != nil {
		return err
	}
	b.state = m
	return nil
}

// LastRuns returns the last due time handled per entry, as stored
// (entries never handled are absent).
func (b *Beat) LastRuns(ctx context.Context) (map[string]time.Time, error) {
	return b.store.LastRuns(ctx)
}

// maxPerTick bounds the due times one entry sends per tick; more are sent
// on the next tick.
const maxPerTick = 1000

// tick sends what is due at now and returns the next due time over all
// entries.
func (b *Beat) tick(ctx context.Context, token string, now time.Time) (time.Time, error) {
	var next time.Time
	for i := range b.entries {
		e := &b.entries[i]
		last, seen := b.state[e.Name]
		if !seen {
			// First sight: the schedule starts now (Celery: last_run_at
			// defaults to the time beat starts).
			if err := b.record(ctx, token, e, ms(now), false); err != nil {
				return next, err
			}
			last = b.state[e.Name]
		}
		sends, skipTo := b.plan(e, last, now)
		if !skipTo.IsZero() {
			if err := b.record(ctx, token, e, skipTo, false); err != nil {
				return next, err
			}
			b.skipped.WithLabelValues(e.Name).Inc()
			b.o.logger.Info("beat: skipped missed due times", "entry", e.Name, "through", skipTo)
		}
		for _, due := range sends {
			if err := b.record(ctx, token, e, due, true); err != nil {
				return next, err
			}
		}
		if n := nextDue(e.Schedule, b.state[e.Name]); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next, nil
}

func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }

// nextDue is Schedule.Next at millisecond precision (what Redis stores).
func nextDue(s Schedule, last time.Time) time.Time {
	n := s.Next(last)
	if n.IsZero() {
		return n
	}
	if n = ms(n); !n.After(last) {
		n = last.Add(time.Millisecond)
	}
	return n
}

// plan returns the due times of e in (last, now] to send, and the due
// time to record without sending when missed ones are skipped.
func (b *Beat) plan(e *Entry, last, now time.Time) (sends []time.Time, skipTo time.Time) {
	first := nextDue(e.Schedule, last)
	if first.IsZero() || first.After(now) {
		return nil, time.Time{}
	}
	cutoff := now.Add(-b.o.lateWindow)
	from := last
	if first.Before(cutoff) {
		missed := latestBefore(e.Schedule, last, cutoff)
		from = missed
		if late := nextDue(e.Schedule, missed); b.o.catchUp == CatchUpOnce && (late.IsZero() || late.After(now)) {
			sends = append(sends, missed)
		} else {
			skipTo = missed
		}
	}
	for d := nextDue(e.Schedule, from); !d.IsZero() && !d.After(now) && len(sends) < maxPerTick; d = nextDue(e.Schedule, d) {
		sends = append(sends, d)
	}
	return sends, skipTo
}

// latestBefore returns the last due time after last and not after cutoff;
// the caller knows there is one.
func latestBefore(s Schedule, last, cutoff time.Time) time.Time {
	if iv, ok := s.(Interval); ok {
		k := cutoff.Sub(last) / iv.D
		return ms(last.Add(k * iv.D))
	}
	for span := time.Minute; ; span *= 2 {
		p := cutoff.Add(-span)
		if !p.After(last) {
			p = last
		}
		d := nextDue(s, p)
		if !d.IsZero() && !d.After(cutoff) {
			for {
				n := nextDue(s, d)
				if n.IsZero() || n.After(cutoff) {
					return d
				}
				d = n
			}
		}
		if p.Equal(last) {
			return nextDue(s, last)
		}
	}
}

// record records due as handled in the store: with send, the entry's
// message is published in the same step.
func (b *Beat) record(ctx context.Context, token string, e *Entry, due time.Time, send bool) error {
	var (
		msg   *encoded
		pub   *celery.Publishing
		queue = b.queueOf(e)
	)
	if send {
		var err error
		if msg, err = b.encode(*e, due); err != nil {
			return err
		}
		pub = &celery.Publishing{Queue: queue, Priority: e.Priority, Body: msg.Body}
	}
	// A Record under way finishes even if ctx ends meanwhile (bounded by
	// the lease, past which the token fences it anyway), so that a stop
	// never leaves a message sent but not counted, logged or remembered.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.o.lease)
	last, recorded, err := b.store.Record(rctx, token, e.Name, due, pub)
	cancel()
	if errors.Is(err, celery.ErrLockLost) {
		return ErrNotLeader
	}
	if err != nil {
		return err
	}
	b.state[e.Name] = last
	if send && recorded {
		b.sent.WithLabelValues(e.Name, e.Task).Inc()
		b.o.logger.Info("Scheduler: Sending due task "+e.Name+" ("+e.Task+")",
			"entry", e.Name, "task", e.Task, "id", msg.ID, "queue", queue, "due", due.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func (b *Beat) queueOf(e *Entry) string {
	if e.Queue != "" {
		return e.Queue
	}
	if q := b.o.routedQueue(e.Task); q != "" {
		return q
	}
	return b.o.defaultQueue
}

// encoded is a message ready to push.
type encoded struct {
	ID   string
	Body []byte
}

func (b *Beat) encode(e Entry, due time.Time) (*encoded, error) {
	headers := map[string]any{HeaderDue: celery.FormatTime(due), HeaderEntry: e.Name}
	for k, v := range e.Headers {
		headers[k] = v
	}
	opts := []celery.SendOption{
		celery.Args(e.Args...), celery.Kwargs(e.Kwargs), celery.Queue(b.queueOf(&e)),
		celery.Priority(e.Priority), celery.Headers(headers),
	}
	if e.Expires > 0 {
		opts = append(opts, celery.ExpiresIn(e.Expires))
	}
	if e.TimeLimit > 0 || e.SoftTimeLimit > 0 {
		opts = append(opts, celery.TimeLimits(e.TimeLimit, e.SoftTimeLimit))
	}
	if e.IgnoreResult {
		opts = append(opts, celery.IgnoreResult())
	}
	m, _ := b.client.BuildMessage(e.Task, opts...)
	body, err := celery.EncodeMessage(m)
	if err != nil {
		return nil, err
	}
	return &encoded{ID: m.ID, Body: body}, nil
}

// Upcoming returns the next n due times of s after from (for --dry-run).
func Upcoming(s Schedule, from time.Time, n int) []time.Time {
	var out []time.Time
	for range n {
		if from = s.Next(from); from.IsZero() {
			break
		}
		out = append(out, from)
	}
	return out
}

// SendThrough returns a Store that keeps its lock and last runs in store
// and sends the due messages through p, a broker other than the store's
// (AMQP, the store being on the result backend's Redis). Record records
// the due time first, fenced as store fences it, then publishes: a due
// time is still sent at most once, but not in one atomic step. A message
// the broker refuses once its due time is recorded is not sent; Record
// returns the error and Beat logs it, as Celery's beat, which moves an
// entry on before it sends it, logs and loses it.
func SendThrough(store Store, p celery.Publisher) Store { return &sendThrough{Store: store, p: p} }

type sendThrough struct {
	Store
	p celery.Publisher
}

func (s *sendThrough) Record(ctx context.Context, token, entry string, due time.Time, pub *celery.Publishing) (time.Time, bool, error) {
	last, recorded, err := s.Store.Record(ctx, token, entry, due, nil)
	if err != nil || !recorded || pub == nil {
		return last, recorded, err
	}
	if err := s.p.PublishOne(ctx, *pub); err != nil {
		return last, recorded, fmt.Errorf("beat: entry %q: due time recorded, message not sent: %w", entry, err)
	}
	return last, recorded, nil
}
