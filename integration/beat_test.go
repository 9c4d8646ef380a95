//go:build integration

package integration

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/beat"
	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

func writeSchedule(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "schedule.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var sentRE = regexp.MustCompile(`msg="Scheduler: Sending due task (\S+) \(\S+\)" entry=\S+ task=\S+ id=(\S+)`)

// sentIDs returns the task ids a beat logged as sent, per entry.
func sentIDs(log string) map[string][]string {
	out := map[string][]string{}
	for _, m := range sentRE.FindAllStringSubmatch(log, -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBeatIntervalPythonAndGoWorkers: an every-1s entry for a Python
// worker's queue and one for a Go worker's queue; both run them (so both
// accept beat's extra headers) and store results.
func TestBeatIntervalPythonAndGoWorkers(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("py"))
	startGoWorker(t, e.URL, nil, worker.WithQueues("go"))
	sched := writeSchedule(t, `
entries:
  py-add: {task: tasks.add, every: 1s, args: [2, 3], queue: py}
  go-add: {task: tasks.add, every: 1s, kwargs: {x: 4, y: 5}, queue: go}
`)
	metrics := freeAddr(t)
	p := startBinary(t, "leadership acquired", "beat", "--schedule", sched, "--broker", e.URL, "--lease", "2s", "--metrics-addr", metrics)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ids := sentIDs(p.Log())
		if len(ids["py-add"]) >= 3 && len(ids["go-add"]) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("beat sent %v", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, re := range []string{`celeriac_beat_leader 1`, `celeriac_beat_sent_total\{entry="py-add",task="tasks.add"\} [3-9]`, `celeriac_beat_leadership_acquired_total 1`} {
		if !regexp.MustCompile(re).Match(body) {
			t.Errorf("/metrics lacks %s:\n%s", re, body)
		}
	}
	p.Signal(syscall.SIGTERM)
	if !p.Wait(10 * time.Second) {
		t.Fatal("beat did not stop on SIGTERM")
	}
	if !strings.Contains(p.Log(), "leadership released") {
		t.Errorf("beat did not release the lock:\n%s", p.Log())
	}
	ctx := ctxFor(t, 60*time.Second)
	for entry, want := range map[string]float64{"py-add": 5, "go-add": 9} {
		ids := sentIDs(p.Log())[entry]
		for _, id := range ids[:3] {
			m, err := e.Client.AsyncResult(id).Wait(ctx)
			if err != nil {
				t.Fatalf("%s %s: %v", entry, id, err)
			}
			var got float64
			if m.Status != celery.StateSuccess || m.Decode(&got) != nil || got != want {
				t.Errorf("%s %s: %s %v, want SUCCESS %v", entry, id, m.Status, m.Result, want)
			}
			if wantQ := entry[:2]; m.Queue != wantQ && m.Queue != "" {
				t.Errorf("%s ran from queue %q", entry, m.Queue)
			}
		}
		t.Logf("%s: %d sent, first 3 ran: SUCCESS %v", entry, len(ids), want)
	}
}

// TestBeatHA runs two `celeriac beat` processes on one schedule: only one
// sends; after kill -9 of the leader the other takes over within the
// lease, and over ~30 s every due time of an every-1s entry is in the
// queue exactly once.
func TestBeatHA(t *testing.T) {
	const lease = 3 * time.Second
	e := newEnv(t)
	sched := writeSchedule(t, "entries:\n  tick: {task: tasks.add, every: 1s, args: [1, 1], queue: ha}\n")
	args := []string{"beat", "--schedule", sched, "--broker", e.URL, "--lease", lease.String()}
	start := time.Now()
	p1 := startBinary(t, "leadership acquired", args...)
	p2 := startBinary(t, "beat: starting", args...)

	time.Sleep(12 * time.Second)
	if strings.Contains(p2.Log(), "leadership acquired") || strings.Contains(p2.Log(), "Sending due task") {
		t.Fatalf("the standby sent while the leader was alive:\n%s", p2.Log())
	}
	sent1 := len(sentIDs(p1.Log())["tick"])
	if sent1 < 10 {
		t.Fatalf("leader sent %d tasks in 12 s", sent1)
	}
	p1.Cmd.Process.Kill() // kill -9
	killed := time.Now()
	for !strings.Contains(p2.Log(), "leadership acquired") {
		if time.Since(killed) > lease+2*time.Second {
			t.Fatalf("no takeover %v after kill -9:\n%s", time.Since(killed), p2.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	takeover := time.Since(killed)
	if takeover > lease+500*time.Millisecond {
		t.Errorf("takeover took %v, lease %v", takeover, lease)
	}
	time.Sleep(30*time.Second - time.Since(start))
	p2.Signal(syscall.SIGTERM)
	if !p2.Wait(10 * time.Second) {
		t.Fatal("beat did not stop on SIGTERM")
	}
	end := time.Now()

	c := e.Redis.Dial(t)
	defer c.Close()
	raws, err := redis.ByteSlices(c.Do("LRANGE", "ha", 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	var dues []time.Time
	for i := len(raws) - 1; i >= 0; i-- { // LPUSH: oldest last
		m, err := celery.DecodeMessage(raws[i])
		if err != nil {
			t.Fatal(err)
		}
		s, _ := m.Headers[beat.HeaderDue].(string)
		d, err := celery.ParseTime(s)
		if err != nil || m.Task != "tasks.add" {
			t.Fatalf("message %d: task %s, %s %q: %v", i, m.Task, beat.HeaderDue, s, err)
		}
		dues = append(dues, d)
	}
	seen := map[time.Time]bool{}
	for i, d := range dues {
		if seen[d] {
			t.Errorf("due time %v sent twice", d)
		}
		seen[d] = true
		if i > 0 && d.Sub(dues[i-1]) != time.Second {
			t.Errorf("due %v follows %v: step %v, want 1s (skip or repeat)", d, dues[i-1], d.Sub(dues[i-1]))
		}
	}
	// Every due time from the first to shortly before the end was sent.
	if len(dues) == 0 || dues[len(dues)-1].Sub(dues[0]) < end.Sub(start)-4*time.Second {
		t.Errorf("%d due times cover %v of a %v run", len(dues), dues[len(dues)-1].Sub(dues[0]), end.Sub(start))
	}
	sent2 := len(sentIDs(p2.Log())["tick"])
	// A send whose log line the kill cut off is the only allowed gap.
	sent1b := len(sentIDs(p1.Log())["tick"])
	if n := len(dues) - sent1b - sent2; n != 0 && n != 1 {
		t.Errorf("logged sends %d + %d, queue holds %d", sent1b, sent2, len(dues))
	}
	t.Logf("%d due times sent over %v, each once (leader %d, standby %d); takeover %v after kill -9 (lease %v)",
		len(dues), end.Sub(start).Round(time.Millisecond), len(dues)-sent2, sent2, takeover.Round(time.Millisecond), lease)
}
