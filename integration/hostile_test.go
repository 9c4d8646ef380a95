//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// hostileKind is one kind of hostile message; exc is the exception type
// stored as FAILURE under its id ("" for a valid message, which must run).
type hostileKind struct {
	name string
	make func(i int) []byte
	exc  string
}

func hostileKinds() []hostileKind {
	edit := func(f func(env, h, p map[string]any)) func(int) []byte {
		return func(i int) []byte { env, h, p := wkEnvelope(i); f(env, h, p); return wkJSON(env) }
	}
	kinds := []hostileKind{
		{"missing delivery_info (valid)", edit(func(_, _, p map[string]any) { delete(p, "delivery_info") }), ""},
		{"truncated JSON", func(i int) []byte { env, _, _ := wkEnvelope(i); b := wkJSON(env); return b[:len(b)-25] }, "DecodeError"},
		{"non-UTF-8", func(i int) []byte {
			env, _, _ := wkEnvelope(i)
			return []byte(strings.Replace(string(wkJSON(env)), `"origin":"gen1@test"`, "\"origin\":\"\xc3\x28\xff\"", 1))
		}, "DecodeError"},
		{"deeply nested JSON body", edit(func(env, _, _ map[string]any) {
			env["body"] = wkB64("[" + strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + ", {}, null]")
		}), "DecodeError"},
		{"pickle", edit(func(env, _, _ map[string]any) {
			env["content-type"], env["content-encoding"] = celery.ContentTypePickle, "binary"
			env["body"] = wkB64("cos\nsystem\n(S'touch /tmp/celeriac-pickle-ran'\ntR.")
		}), "ContentDisallowed"},
		{"yaml", edit(func(env, _, _ map[string]any) {
			env["content-type"] = celery.ContentTypeYAML
			env["body"] = wkB64("- [1, 2]\n- {}\n")
		}), "ContentDisallowed"},
		{"unknown compression", edit(func(_, h, _ map[string]any) { h["compression"] = "application/zstd" }), "DecodeError"},
		{"huge eta", edit(func(_, h, _ map[string]any) { h["eta"] = "123456789-01-01T00:00:00+00:00" }), "InvalidTaskError"},
		{"huge expires", edit(func(_, h, _ map[string]any) { h["expires"] = "1e400" }), "InvalidTaskError"},
		{"negative retries", edit(func(_, h, _ map[string]any) { h["retries"] = -7 }), "InvalidTaskError"},
		{"bogus timelimit", edit(func(_, h, _ map[string]any) { h["timelimit"] = []any{"NaN", map[string]any{}} }), "InvalidTaskError"},
		{"NaN timelimit", func(i int) []byte {
			env, h, _ := wkEnvelope(i)
			h["timelimit"] = "TL"
			return []byte(strings.Replace(string(wkJSON(env)), `"TL"`, `[NaN, -Infinity]`, 1))
		}, "InvalidTaskError"},
	}
	for _, k := range []string{"task", "lang", "shadow", "eta", "expires", "group", "group_index", "retries",
		"timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result",
		"replaced_task_nesting", "stamped_headers", "stamps", "compression"} {
		bad := any(map[string]any{"wrong": true})
		if k == "stamps" { // the one object-valued header
			bad = []any{"wrong"}
		}
		kinds = append(kinds, hostileKind{"header " + k + " of the wrong type", edit(func(_, h, _ map[string]any) { h[k] = bad }), "InvalidTaskError"})
	}
	return kinds
}

// big64 is a valid-looking message whose body is 64 MiB.
func big64(i int) []byte {
	env, _, _ := wkEnvelope(i)
	env["body"] = "BODY"
	js := string(wkJSON(env))
	return []byte(strings.Replace(js, `"BODY"`, `"`+strings.Repeat("A", 64<<20)+`"`, 1))
}

// TestHostileMessages: the worker binary with its default 32 MiB message
// limit gets three 64 MiB messages (one to an idle worker, two inside a
// batch), deeply nested JSON, pickle, yaml, unknown compression, absurd
// dates, negative retries, bogus time limits, truncated and non-UTF-8
// JSON and a wrong type in every header, each between valid messages.
// Valid messages succeed; each bad one is logged once and stored as a
// FAILURE that Python's get() raises as the matching kombu/celery
// exception; queue and unacked end empty; the worker's peak RSS stays
// far below the 192 MiB of oversized messages it was sent.
func TestHostileMessages(t *testing.T) {
	e := newEnv(t)
	// Without -race, whose shadow memory would blur the RSS measured.
	bin := filepath.Join(t.TempDir(), "celeriac")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/celeriac").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p := startProc(t, exec.Command(bin, "worker", "--broker", e.URL, "-c", "4", "-n", "go-hostile@celeriac"), "celeriac worker", 20*time.Second)
	wkEventually(t, 30*time.Second, "the worker to start", func() bool { return strings.Contains(p.Log(), "worker ready") })
	pid := p.Cmd.Process.Pid
	const rejected = `msg="rejected malformed message"`
	conn := e.Redis.Dial(t)

	var ids []string
	want := map[string]string{}
	valid := func() {
		m, _ := e.Client.BuildMessage("tasks.add", celery.Args(1, 2))
		body, err := celery.EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
		conn.Send("LPUSH", "celery", body)
	}

	// 1. Two oversized messages inside a batch (one transaction, so the
	// worker finds them behind a valid one): measured inside Redis by the
	// pop script, rejected, never transferred.
	bigA, bigB := big64(9001), big64(9002)
	conn.Send("MULTI")
	valid()
	conn.Send("LPUSH", "celery", bigA)
	valid()
	conn.Send("LPUSH", "celery", bigB)
	valid()
	if _, err := conn.Do("EXEC"); err != nil {
		t.Fatal(err)
	}
	want[wkID(9001)], want[wkID(9002)] = "LimitExceeded", "LimitExceeded"
	bigA, bigB = nil, nil
	wkEventually(t, 60*time.Second, "the batched 64 MiB messages to be rejected", func() bool { return wkLogCount(p.Log(), rejected) >= 2 })
	peakBatch := vmHWM(t, pid)

	// 2. One to the idle worker: its blocking pop reads it once.
	if _, err := conn.Do("LPUSH", "celery", big64(9000)); err != nil {
		t.Fatal(err)
	}
	want[wkID(9000)] = "LimitExceeded"
	wkEventually(t, 60*time.Second, "the idle 64 MiB message to be rejected", func() bool { return wkLogCount(p.Log(), rejected) >= 3 })

	// 3. Every kind between valid messages.
	kinds := hostileKinds()
	for rep := range 3 {
		for j, k := range kinds {
			i := 9100 + rep*100 + j
			valid()
			conn.Send("LPUSH", "celery", k.make(i))
			if k.exc == "" {
				ids = append(ids, wkID(i))
			} else {
				want[wkID(i)] = k.exc
			}
		}
	}
	valid()
	if _, err := conn.Do(""); err != nil {
		t.Fatal(err)
	}
	metas := wkWaitReady(t, e, 120*time.Second, ids)
	for _, id := range ids {
		if m := metas[id]; m.Status != celery.StateSuccess {
			t.Errorf("valid task %s: %s %v", id, m.Status, m.Result)
		}
	}
	wkEventually(t, 60*time.Second, "every hostile message to be rejected", func() bool {
		return wkQueueLen(t, e, "celery") == 0 && wkLogCount(p.Log(), rejected) >= len(want)
	})
	if n := wkLogCount(p.Log(), rejected); n != len(want) {
		t.Errorf("%d lines %s, want one per hostile message (%d)", n, rejected, len(want))
	}
	for id, exc := range want {
		m := wkMeta(t, e, id)
		got, _ := m.Result.(map[string]any)
		if m.Status != celery.StateFailure || got["exc_type"] != exc {
			t.Errorf("%s: %s %v, want FAILURE %s", id, m.Status, m.Result, exc)
		}
		if n := wkLogCount(p.Log(), rejected, "task_id="+id); n != 1 {
			t.Errorf("%s: %d rejection lines name it, want 1", id, n)
		}
	}
	// What Python's get() raises for them.
	for id, exc := range map[string]string{wkID(9000): "LimitExceeded", wkID(9100 + 4): "ContentDisallowed", wkID(9100 + 3): "DecodeError", wkID(9100 + 9): "InvalidTaskError"} {
		r := pyGet(t, e.URL, id)
		if r.State != "FAILURE" {
			t.Errorf("Python sees %s for %s", r.State, id)
			continue
		}
		if pe := wkExc(t, r); pe.Type != exc {
			t.Errorf("Python's get() raised %s.%s for %s, want %s", pe.Module, pe.Type, id, exc)
		}
	}
	if u := wkUnacked(t, e); len(u) != 0 {
		t.Errorf("%d messages left in unacked", len(u))
	}
	if _, err := os.Stat("/tmp/celeriac-pickle-ran"); err == nil {
		t.Error("the pickle payload ran")
	}
	if p.Wait(0) {
		t.Fatalf("worker exited:\n%s", p.Log())
	}
	peak := vmHWM(t, pid)
	t.Logf("worker peak RSS %d MiB after two batched 64 MiB messages, %d MiB at the end (%d hostile messages, 3 of 64 MiB; %d valid)",
		peakBatch>>20, peak>>20, len(want), len(ids))
	// The two in a batch never leave Redis; the one to the idle worker
	// is read by its blocking pop once and dropped.
	if peakBatch > 64<<20 {
		t.Errorf("worker peak RSS %d MiB after the batched oversized messages: they were transferred", peakBatch>>20)
	}
	if peak > 200<<20 {
		t.Errorf("worker peak RSS %d MiB, want one oversized message at most", peak>>20)
	}
}

func wkID(i int) string { return fmt.Sprintf("bad-%04d-0000-0000-0000-000000000000", i) }

// vmHWM returns a process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
