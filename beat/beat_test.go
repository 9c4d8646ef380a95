package beat

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/logbuf"
	"github.com/celeriac/celeriac/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newBroker(t *testing.T) (*credis.Broker, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	br, err := credis.NewBroker(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	return br, srv
}

// queued pops every message of queue and returns them decoded, oldest
// first.
func queued(t *testing.T, srv *redistest.Server, key string) []*celery.Message {
	t.Helper()
	c := srv.Dial(t)
	defer c.Close()
	raws, err := redis.ByteSlices(c.Do("LRANGE", key, 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	c.Do("DEL", key)
	var out []*celery.Message
	for i := len(raws) - 1; i >= 0; i-- {
		m, err := celery.DecodeMessage(raws[i])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func dueOf(t *testing.T, m *celery.Message) time.Time {
	t.Helper()
	s, _ := m.Headers[HeaderDue].(string)
	d, err := celery.ParseTime(s)
	if err != nil {
		t.Fatalf("message %s: header %s: %v", m.ID, HeaderDue, err)
	}
	return d
}

// checkContiguous fails unless the due times step by exactly every.
func checkContiguous(t *testing.T, dues []time.Time, every time.Duration) {
	t.Helper()
	for i := 1; i < len(dues); i++ {
		if d := dues[i].Sub(dues[i-1]); d != every {
			t.Errorf("due %d (%v) follows %v by %v, want %v (duplicate or skip)", i, dues[i], dues[i-1], d, every)
		}
	}
}

type runner struct {
	b      *Beat
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func start(t *testing.T, b *Beat) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{b: b, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends Run (idempotent).
func (r *runner) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestTwoBeatsOneSender runs two Beats on one Redis: only one leads; when
// it stops the other takes over, and the queue holds every due time once.
func TestTwoBeatsOneSender(t *testing.T) {
	br, srv := newBroker(t)
	entries := []Entry{{Name: "tick", Task: "tasks.add", Schedule: Every(100 * time.Millisecond), Args: []any{1, 2}}}
	mk := func(id string) *Beat {
		b, err := New(credis.NewBeatStore(br, "default"), entries, WithLease(300*time.Millisecond), WithInstanceID(id), WithLogger(quiet),
			WithRegisterer(prometheus.NewRegistry()))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r1 := start(t, mk("one"))
	waitFor(t, 2*time.Second, "one to lead", r1.b.IsLeader)
	r2 := start(t, mk("two"))
	time.Sleep(700 * time.Millisecond)
	if !r1.b.IsLeader() || r2.b.IsLeader() {
		t.Fatalf("leaders: one=%v two=%v, want one only", r1.b.IsLeader(), r2.b.IsLeader())
	}
	r1.stop(t) // releases the lock
	waitFor(t, time.Second, "two to take over", r2.b.IsLeader)
	time.Sleep(700 * time.Millisecond)
	r2.stop(t)

	msgs := queued(t, srv, "celery")
	if len(msgs) < 10 {
		t.Fatalf("%d messages, want about 14", len(msgs))
	}
	var dues []time.Time
	for _, m := range msgs {
		if m.Task != "tasks.add" || m.Headers[HeaderEntry] != "tick" || len(m.Args) != 2 {
			t.Errorf("message %+v", m)
		}
		dues = append(dues, dueOf(t, m))
	}
	checkContiguous(t, dues, 100*time.Millisecond)
	sent1 := metricValue(r1.b.sent.WithLabelValues("tick", "tasks.add"))
	sent2 := metricValue(r2.b.sent.WithLabelValues("tick", "tasks.add"))
	if int(sent1+sent2) != len(msgs) || sent1 == 0 || sent2 == 0 {
		t.Errorf("celeriac_beat_sent_total: %v + %v, %d messages", sent1, sent2, len(msgs))
	}
	if e1, e2 := metricValue(r1.b.elections), metricValue(r2.b.elections); e1 != 1 || e2 != 1 {
		t.Errorf("leadership_acquired_total: %v, %v; want 1, 1", e1, e2)
	}
	if g := metricValue(r2.b.leaderG); g != 0 {
		t.Errorf("celeriac_beat_leader after stop: %v", g)
	}
	last, err := r2.b.LastRuns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !last["tick"].Equal(dues[len(dues)-1]) {
		t.Errorf("stored last run %v, last sent %v", last["tick"], dues[len(dues)-1])
	}
}

// TestFencing: a leader whose lock was lost (expired, taken by another)
// can send nothing with its stale token.
func TestFencing(t *testing.T) {
	br, srv := newBroker(t)
	ctx := context.Background()
	e := []Entry{{Name: "e", Task: "t", Schedule: Every(time.Second)}}
	b1, _ := New(credis.NewBeatStore(br, "default"), e, WithLogger(quiet), WithInstanceID("b1"))
	b2, _ := New(credis.NewBeatStore(br, "default"), e, WithLogger(quiet), WithInstanceID("b2"))
	tok1, _, err := b1.tryAcquire(ctx)
	if err != nil || tok1 == "" {
		t.Fatalf("b1 acquire: %q %v", tok1, err)
	}
	if tok, pttl, _ := b2.tryAcquire(ctx); tok != "" || pttl <= 0 {
		t.Fatalf("b2 acquired a held lock: %q %v", tok, pttl)
	}
	srv.Do(t, "DEL", "celeriac.beat.default.lock") // the lease ran out
	tok2, _, err := b2.tryAcquire(ctx)
	if err != nil || tok2 == "" || tok2 == tok1 {
		t.Fatalf("b2 acquire: %q %v", tok2, err)
	}
	b1.state, b2.state = map[string]time.Time{}, map[string]time.Time{}
	due := time.UnixMilli(time.Now().UnixMilli())
	if err := b1.record(ctx, tok1, &b1.entries[0], due, true); !errors.Is(err, ErrNotLeader) {
		t.Errorf("stale leader's send: %v, want ErrNotLeader", err)
	}
	if ok, _ := b1.renewLock(ctx, tok1); ok {
		t.Error("stale leader renewed the lock")
	}
	if err := b2.record(ctx, tok2, &b2.entries[0], due, true); err != nil {
		t.Fatal(err)
	}
	// The same due time again (say from a leader that reloaded late) is
	// recorded as done and not sent.
	if err := b2.record(ctx, tok2, &b2.entries[0], due, true); err != nil {
		t.Fatal(err)
	}
	if err := b2.record(ctx, tok2, &b2.entries[0], due.Add(-time.Second), true); err != nil {
		t.Fatal(err)
	}
	if n := len(queued(t, srv, "celery")); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestCatchUp(t *testing.T) {
	now := time.UnixMilli(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
	for _, tc := range []struct {
		name   string
		policy CatchUp
		window time.Duration
		want   []time.Duration // sent due times, relative to now
		last   time.Duration   // recorded afterwards
	}{
		// Due at -23m, -16m, -9m, -2m; next at +5m.
		{"once sends the latest missed run", CatchUpOnce, time.Minute, []time.Duration{-2 * time.Minute}, -2 * time.Minute},
		{"skip sends nothing", CatchUpSkip, time.Minute, nil, -2 * time.Minute},
		{"late runs are sent, older ones skipped", CatchUpOnce, 10 * time.Minute, []time.Duration{-9 * time.Minute, -2 * time.Minute}, -2 * time.Minute},
		{"late runs are sent with skip too", CatchUpSkip, 10 * time.Minute, []time.Duration{-9 * time.Minute, -2 * time.Minute}, -2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br, srv := newBroker(t)
			ctx := context.Background()
			e := []Entry{{Name: "e", Task: "t", Schedule: Every(7 * time.Minute), Queue: "q"}}
			b, err := New(credis.NewBeatStore(br, "default"), e, WithLogger(quiet), WithCatchUp(tc.policy), WithLateWindow(tc.window), WithLease(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			srv.Do(t, "HSET", "celeriac.beat.default.last", "e", now.Add(-30*time.Minute).UnixMilli())
			tok, _, err := b.tryAcquire(ctx)
			if err != nil || tok == "" {
				t.Fatal(tok, err)
			}
			if err := b.loadState(ctx); err != nil {
				t.Fatal(err)
			}
			next, err := b.tick(ctx, tok, now)
			if err != nil {
				t.Fatal(err)
			}
			if !next.Equal(now.Add(5 * time.Minute)) {
				t.Errorf("next wake %v, want now+5m", next.Sub(now))
			}
			var got []time.Duration
			for _, m := range queued(t, srv, "q") {
				got = append(got, dueOf(t, m).Sub(now))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("sent %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("sent %v, want %v", got, tc.want)
				}
			}
			last, _ := b.LastRuns(ctx)
			if d := last["e"].Sub(now); d != tc.last {
				t.Errorf("last run recorded at %v, want %v", d, tc.last)
			}
		})
	}
}

func TestCrontabCatchUpOnce(t *testing.T) {
	br, srv := newBroker(t)
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 7, 0, 0, time.UTC)
	e := []Entry{{Name: "q", Task: "t", Schedule: MustCrontab(CrontabSpec{Minute: "*/15"}, nil), Priority: 5}}
	b, _ := New(credis.NewBeatStore(br, "default"), e, WithLogger(quiet))
	srv.Do(t, "HSET", "celeriac.beat.default.last", "q", now.Add(-48*time.Hour).UnixMilli())
	tok, _, _ := b.tryAcquire(ctx)
	b.loadState(ctx)
	if _, err := b.tick(ctx, tok, now); err != nil {
		t.Fatal(err)
	}
	// Priority 5 lands in the 3 bucket (kombu's steps 0, 3, 6, 9).
	msgs := queued(t, srv, "celery\x06\x163")
	if len(msgs) != 1 || !dueOf(t, msgs[0]).Equal(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %d messages, want one for 12:00", len(msgs))
	}
	if p := msgs[0].Properties.Priority; p != 5 {
		t.Errorf("priority %d", p)
	}
}

func TestNewErrors(t *testing.T) {
	br, _ := newBroker(t)
	every := Every(time.Second)
	for _, tc := range []struct {
		entries []Entry
		opts    []Option
		want    string
	}{
		{[]Entry{{Task: "t", Schedule: every}}, nil, "no name"},
		{[]Entry{{Name: "a", Task: "t", Schedule: every}, {Name: "a", Task: "t", Schedule: every}}, nil, "duplicate"},
		{[]Entry{{Name: "a", Schedule: every}}, nil, "no task"},
		{[]Entry{{Name: "a", Task: "t"}}, nil, "no schedule"},
		{[]Entry{{Name: "a", Task: "t", Schedule: every, Priority: 10}}, nil, "priority"},
		{[]Entry{{Name: "a", Task: "t", Schedule: every, Args: []any{make(chan int)}}}, nil, `entry "a"`},
		{nil, []Option{WithLease(time.Millisecond)}, "lease"},
	} {
		if _, err := New(credis.NewBeatStore(br, "default"), tc.entries, tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want error containing %q", err, tc.want)
		}
	}
	if _, err := New(nil, nil); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Errorf("New(nil store): %v, want an error saying so", err)
	}
}

// TestRedisOutage: the leader survives Redis going away and coming back
// (empty: no persistence), takes the lock again and goes on sending.
func TestRedisOutage(t *testing.T) {
	br, srv := newBroker(t)
	var logs logbuf.Buffer
	b, err := New(credis.NewBeatStore(br, "default"), []Entry{{Name: "e", Task: "t", Schedule: Every(100 * time.Millisecond)}},
		WithLease(300*time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, b)
	waitFor(t, 2*time.Second, "leadership", b.IsLeader)
	time.Sleep(300 * time.Millisecond)
	srv.Stop()
	time.Sleep(600 * time.Millisecond)
	srv.Restart(t)
	c := srv.Dial(t)
	defer c.Close()
	waitFor(t, 5*time.Second, "sends after the restart", func() bool {
		n, _ := redis.Int(c.Do("LLEN", "celery"))
		return n >= 3
	})
	r.stop(t)
	for _, want := range []string{"beat: redis error; retrying", "beat: leadership acquired"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if n := strings.Count(logs.String(), "redis error"); n > 3 {
		t.Errorf("%d redis error lines for one outage, want one per failing spell:\n%s", n, logs.String())
	}
}

func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// TestRestartNeitherSkipsNorRepeats: a beat stops, nothing runs for a
// while, a new one starts: the due times of the gap are sent once each
// (they are within the late window) and the sequence goes on.
func TestRestartNeitherSkipsNorRepeats(t *testing.T) {
	br, srv := newBroker(t)
	entries := []Entry{{Name: "tick", Task: "t", Schedule: Every(50 * time.Millisecond)}}
	b1, _ := New(credis.NewBeatStore(br, "default"), entries, WithLease(200*time.Millisecond), WithLogger(quiet))
	r1 := start(t, b1)
	time.Sleep(400 * time.Millisecond)
	r1.stop(t)
	time.Sleep(300 * time.Millisecond) // about 6 due times with no beat
	b2, _ := New(credis.NewBeatStore(br, "default"), entries, WithLease(200*time.Millisecond), WithLogger(quiet))
	r2 := start(t, b2)
	time.Sleep(300 * time.Millisecond)
	r2.stop(t)
	var dues []time.Time
	for _, m := range queued(t, srv, "celery") {
		dues = append(dues, dueOf(t, m))
	}
	if len(dues) < 15 {
		t.Fatalf("%d messages over 1 s of every-50ms", len(dues))
	}
	checkContiguous(t, dues, 50*time.Millisecond)
}
