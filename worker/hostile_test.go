package worker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/embedded"
	"github.com/celeriac/celeriac/internal/rconn"
	"github.com/celeriac/celeriac/internal/redistest"
	"github.com/celeriac/celeriac/worker"
)

// hostileQueue is the queue the hostile-input harness feeds.
const hostileQueue = "hostile"

// recorder is a slog.Handler that hands every record to the test.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
	ch   chan slog.Record
}

func newRecorder() *recorder { return &recorder{ch: make(chan slog.Record, 1<<16)} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	select {
	case r.ch <- rec.Clone():
	default:
	}
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func attr(rec slog.Record, key string) string {
	v := ""
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// outcome is how the worker's accept step ended for one message: exactly
// one of these lines is logged per message it takes.
func outcome(rec slog.Record) string {
	switch {
	case rec.Message == "rejected malformed message":
		return "rejected"
	case rec.Message == "received unregistered task":
		return "unregistered"
	case strings.HasPrefix(rec.Message, "Task ") && strings.HasSuffix(rec.Message, "] received"):
		return "received"
	}
	return ""
}

// harness runs a real Worker (the same Run, consume and accept code the
// binary runs) on queue "hostile" of the Redis at url.
type harness struct {
	rec    *recorder
	pool   *redis.Pool
	client *celery.Client
	ran    chan string
}

// testPool is a connection pool of the test's own on the Redis at url.
func testPool(tb testing.TB, url string) *redis.Pool {
	tb.Helper()
	cfg, err := rconn.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	p := rconn.NewPool(cfg, 4, 0)
	tb.Cleanup(func() { p.Close() })
	return p
}

func newHarness(tb testing.TB, url string, maxSize int) *harness {
	tb.Helper()
	client, err := credis.NewClient(url, credis.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	h := &harness{rec: newRecorder(), client: client, pool: testPool(tb, url), ran: make(chan string, 1<<16)}
	mux := worker.NewServeMux()
	mux.HandleFunc("t", func(ctx context.Context, t *worker.Task) (any, error) {
		select {
		case h.ran <- t.ID:
		default:
		}
		return "ok", nil
	})
	w := worker.New(client.Publisher().(*credis.Broker), client.Results().(*credis.Backend), mux,
		worker.WithQueues(hostileQueue), worker.WithConcurrency(2), worker.WithHostname("hostile@test"),
		worker.WithLogger(slog.New(h.rec)), worker.WithPidbox(false), worker.WithSweepInterval(0),
		worker.WithMaxMessageSize(maxSize), worker.WithShutdownTimeout(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
		client.Close()
	})
	for rec := range h.rec.ch { // the consumer starts right after this line
		if rec.Message == "worker ready" {
			break
		}
	}
	return h
}

// feed pushes one raw queue item and returns the accept outcome line for
// it; a message that yields none within the timeout was silently dropped.
func (h *harness) feed(tb testing.TB, raw []byte) slog.Record {
	tb.Helper()
	c := h.pool.Get()
	_, err := c.Do("LPUSH", hostileQueue, raw)
	c.Close()
	if err != nil {
		tb.Fatalf("LPUSH: %v", err)
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case rec := <-h.rec.ch:
			if outcome(rec) != "" {
				return rec
			}
		case <-timeout.C:
			tb.Fatalf("message of %d bytes was neither run nor rejected: %.200q", len(raw), raw)
		}
	}
}

// envelope builds a protocol-v2 envelope as kombu writes it, for edits.
func envelope(id string) (env, headers, props map[string]any) {
	headers = map[string]any{
		"lang": "py", "task": "t", "id": id, "shadow": nil, "eta": nil, "expires": nil,
		"group": nil, "group_index": nil, "retries": 0, "timelimit": []any{nil, nil},
		"root_id": id, "parent_id": nil, "argsrepr": "()", "kwargsrepr": "{}",
		"origin": "gen1@test", "ignore_result": false, "replaced_task_nesting": 0,
		"stamped_headers": nil, "stamps": map[string]any{},
	}
	props = map[string]any{
		"correlation_id": id, "reply_to": "r", "delivery_mode": 2,
		"delivery_info": map[string]any{"exchange": "", "routing_key": hostileQueue},
		"priority":      0, "body_encoding": "base64", "delivery_tag": "tag-" + id,
	}
	env = map[string]any{
		"body":         base64.StdEncoding.EncodeToString([]byte(`[[], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`)),
		"content-type": "application/json", "content-encoding": "utf-8",
		"headers": headers, "properties": props,
	}
	return env, headers, props
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// hostileCase is one kind of hostile queue item. exc is the exception type
// stored as FAILURE under the id, "" when no id can be known; run means
// the message is valid and its task runs.
type hostileCase struct {
	name string
	make func(id string) []byte
	exc  string
	run  bool
}

// wrongTypes gives every protocol-v2 header a value of the wrong type.
var wrongTypes = map[string]any{
	"task": 1, "lang": 2, "shadow": 3, "eta": 4.5, "expires": []any{}, "group": 6,
	"group_index": "x", "retries": "three", "timelimit": "abc", "root_id": 7, "parent_id": 8,
	"argsrepr": 9, "kwargsrepr": 10, "origin": 11, "ignore_result": "yes",
	"replaced_task_nesting": "x", "stamped_headers": "x", "stamps": []any{1}, "compression": 12,
}

// hostileCases lists the kinds; bigBody is the size of the oversized
// body, depth that of the deeply nested ones.
func hostileCases(bigBody, depth int) []hostileCase {
	edit := func(f func(env, h, p map[string]any)) func(string) []byte {
		return func(id string) []byte { env, h, p := envelope(id); f(env, h, p); return mustJSON(env) }
	}
	cases := []hostileCase{
		{"valid", edit(func(_, _, _ map[string]any) {}), "", true},
		{"missing delivery_info", edit(func(_, _, p map[string]any) { delete(p, "delivery_info") }), "", true},
		// Without properties there is no body_encoding: the base64 text
		// is taken as the JSON body, as kombu would.
		{"missing properties", edit(func(env, _, _ map[string]any) { delete(env, "properties") }), "DecodeError", false},
		{"far eta is held, not rejected", edit(func(_, h, _ map[string]any) { h["eta"] = "9999-12-31T23:59:59+00:00" }), "", false},
		{"huge timelimit", edit(func(_, h, _ map[string]any) { h["timelimit"] = []any{1e300, 1e300} }), "", true},
		{"truncated JSON", func(id string) []byte { env, _, _ := envelope(id); b := mustJSON(env); return b[:len(b)-30] }, "DecodeError", false},
		{"truncated at the body", func(id string) []byte { return []byte(`{"body": "W1tdLCB7`) }, "", false},
		{"empty item", func(string) []byte { return nil }, "", false},
		{"not JSON", func(string) []byte { return []byte{0xff, 0xfe, 0, 1, 0x80} }, "", false},
		{"non-UTF-8 in a header", func(id string) []byte {
			env, _, _ := envelope(id)
			return []byte(strings.Replace(string(mustJSON(env)), `"origin":"gen1@test"`, "\"origin\":\"gen\xff\xfe\"", 1))
		}, "DecodeError", false},
		{"non-UTF-8 body", func(id string) []byte {
			env, _, p := envelope(id)
			env["body"], p["body_encoding"] = "BODY", "utf-8"
			return []byte(strings.Replace(string(mustJSON(env)), "BODY", "[[\\\"\xff\xfe\\\"], {}, null]", 1))
		}, "DecodeError", false},
		{"missing body", edit(func(env, _, _ map[string]any) { delete(env, "body") }), "DecodeError", false},
		{"bad base64", edit(func(env, _, _ map[string]any) { env["body"] = "!!!" }), "DecodeError", false},
		{"body not JSON", edit(func(env, _, _ map[string]any) { env["body"] = b64("{not json") }), "DecodeError", false},
		{"deeply nested args", edit(func(env, _, _ map[string]any) {
			env["body"] = b64("[" + strings.Repeat("[", depth) + strings.Repeat("]", depth) + ", {}, null]")
		}), "DecodeError", false},
		{"deeply nested envelope", func(string) []byte { return []byte(strings.Repeat(`{"a":`, depth)) }, "", false},
		{"pickle", edit(func(env, _, _ map[string]any) {
			env["content-type"] = celery.ContentTypePickle
			env["content-encoding"] = "binary"
			// pickle for os.system('touch /tmp/pwned'): must never run.
			env["body"] = b64("cos\nsystem\n(S'touch /tmp/celeriac-pwned'\ntR.")
		}), "ContentDisallowed", false},
		{"yaml", edit(func(env, _, _ map[string]any) {
			env["content-type"] = celery.ContentTypeYAML
			env["body"] = b64("- []\n- {}\n")
		}), "ContentDisallowed", false},
		{"msgpack", edit(func(env, _, _ map[string]any) { env["content-type"] = celery.ContentTypeMsgpk }), "ContentDisallowed", false},
		{"unknown compression", edit(func(_, h, _ map[string]any) { h["compression"] = "application/x-lzma" }), "DecodeError", false},
		{"zlib header, plain body", edit(func(_, h, _ map[string]any) { h["compression"] = "application/x-gzip" }), "DecodeError", false},
		{"eta beyond year 9999", edit(func(_, h, _ map[string]any) { h["eta"] = "99999-01-01T00:00:00+00:00" }), "InvalidTaskError", false},
		{"negative retries", edit(func(_, h, _ map[string]any) { h["retries"] = -3 }), "InvalidTaskError", false},
		{"bogus timelimit", edit(func(_, h, _ map[string]any) { h["timelimit"] = []any{"soon", -1} }), "InvalidTaskError", false},
		{"negative timelimit", edit(func(_, h, _ map[string]any) { h["timelimit"] = []any{-5, nil} }), "InvalidTaskError", false},
		{"id of the wrong type: the correlation id names it", edit(func(_, h, _ map[string]any) { h["id"] = []any{1} }), "InvalidTaskError", false},
		{"no id at all", edit(func(_, h, p map[string]any) { delete(h, "id"); delete(p, "correlation_id") }), "", false},
		{"oversized", edit(func(env, _, _ map[string]any) {
			env["body"] = b64(`[["` + strings.Repeat("x", bigBody) + `"], {}, null]`)
		}), "LimitExceeded", false},
	}
	for _, k := range sortedKeys(wrongTypes) {
		if k == "task" {
			// No task name: v1 is tried, and the v2 body is not an object.
			cases = append(cases, hostileCase{"task header of the wrong type", edit(func(_, h, _ map[string]any) { h["task"] = 1 }), "InvalidTaskError", false})
			continue
		}
		cases = append(cases, hostileCase{k + " header of the wrong type", edit(func(_, h, _ map[string]any) { h[k] = wrongTypes[k] }), "InvalidTaskError", false})
	}
	return cases
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

// TestWorkerHostileInput feeds every kind of hostile message, each between
// valid ones, through a real worker on a real Redis: each bad one is
// rejected with one log line and a FAILURE of the right Python type where
// its id is known; valid ones run; pickle never runs; queue and unacked
// end empty.
func TestWorkerHostileInput(t *testing.T) {
	srv := redistest.Start(t)
	const limit = 256 << 10
	h := newHarness(t, srv.URL(0), limit)
	ctx := ctx(t)
	for i, tc := range hostileCases(2*limit, 10000) {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: once to an idle consumer (blocking pop), once right
			// after another delivery (batch pop, with the size limit in Lua).
			for round, pre := range []bool{false, true} {
				id := fmt.Sprintf("hostile-%d-%d", i, round)
				if pre {
					before := fmt.Sprintf("before-%d", i)
					env, _, _ := envelope(before)
					c := h.pool.Get()
					c.Send("LPUSH", hostileQueue, mustJSON(env))
					c.Send("LPUSH", hostileQueue, tc.make(id))
					_, err := c.Do("")
					c.Close()
					if err != nil {
						t.Fatal(err)
					}
					h.wait(t, "received")
				} else {
					h.check(t, tc, id, h.feed(t, tc.make(id)))
					continue
				}
				h.check(t, tc, id, h.next(t))
			}
			meta, err := h.client.Results().(*credis.Backend).Get(ctx, fmt.Sprintf("hostile-%d-0", i))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.exc != "":
				if meta.Status != celery.StateFailure {
					t.Fatalf("state %s, want FAILURE %s", meta.Status, tc.exc)
				}
				exc, _ := meta.Result.(map[string]any)
				if exc["exc_type"] != tc.exc {
					t.Errorf("exception %v, want %s", exc, tc.exc)
				}
			case tc.run:
				m, err := h.client.Results().(*credis.Backend).Wait(ctx, fmt.Sprintf("hostile-%d-0", i))
				if err != nil || m.Status != celery.StateSuccess {
					t.Errorf("valid message: %v %v", m, err)
				}
			default:
				if meta.Status != celery.StatePending {
					t.Errorf("state %s, want none stored", meta.Status)
				}
			}
		})
	}
	c := h.pool.Get()
	defer c.Close()
	if n, _ := redis.Int(c.Do("LLEN", hostileQueue)); n != 0 {
		t.Errorf("%d messages left in the queue", n)
	}
	// Held: the far-ETA messages only. The worker logs a rejection before
	// its ack reaches Redis (as Celery logs, then acks), and acks go out
	// in batches: wait until the acks of the last rejections have landed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := redis.Int(c.Do("HLEN", "unacked"))
		if err == nil && n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d messages in unacked (%v), want the 2 far-ETA ones", n, err)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat("/tmp/celeriac-pwned"); err == nil {
		t.Error("the pickle payload ran")
	}
}

func (h *harness) next(t *testing.T) slog.Record {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case rec := <-h.rec.ch:
			if outcome(rec) != "" {
				return rec
			}
		case <-timeout:
			t.Fatal("no outcome line")
		}
	}
}

func (h *harness) wait(t *testing.T, want string) {
	t.Helper()
	if got := outcome(h.next(t)); got != want {
		t.Fatalf("outcome %q, want %q", got, want)
	}
}

func (h *harness) check(t *testing.T, tc hostileCase, id string, rec slog.Record) {
	t.Helper()
	got := outcome(rec)
	want := "rejected"
	if tc.run || strings.HasPrefix(tc.name, "far eta") {
		want = "received"
	}
	if got != want {
		t.Fatalf("%s: outcome %q (%s), want %q", id, got, rec.Message, want)
	}
	if got == "rejected" {
		if attr(rec, "reason") == "" {
			t.Errorf("rejection without a reason")
		}
		if tid := attr(rec, "task_id"); (tc.exc != "") != (tid == id) {
			t.Errorf("task_id %q logged, want %q known=%v", tid, id, tc.exc != "")
		}
	}
}

// FuzzWorkerMessage feeds raw queue items through a real Worker (Run,
// consume, accept: the binary's code path) on the embedded broker: every
// item must end in exactly one outcome line (run, unregistered or
// rejected), never a crash, a hang or a silent drop, and the worker must
// keep serving a valid message after it.
func FuzzWorkerMessage(f *testing.F) {
	// Small seeds: the fuzzer minimizes what it finds interesting.
	for i, tc := range hostileCases(5<<10, 600) {
		f.Add(tc.make(fmt.Sprintf("seed-%d", i)))
	}
	emb, err := embedded.Start("127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(emb.Close)
	h := newHarness(f, emb.URL(), 4<<10)
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec := h.feed(t, raw)
		if outcome(rec) == "rejected" && attr(rec, "reason") == "" {
			t.Fatalf("rejection without a reason: %v", rec)
		}
	})
}
