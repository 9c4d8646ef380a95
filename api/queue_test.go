package api

import (
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
)

// TestSendRefusesReservedQueues: the queue field cannot name a key of the
// transport or the result backend (#16.1): 422 with a JSON reason, and
// the key is left untouched.
func TestSendRefusesReservedQueues(t *testing.T) {
	f := newFixture(t, Deps{})
	for _, q := range []string{"unacked", "unacked_index", "unacked_mutex", "_kombu.binding.reply.celery.pidbox",
		"_kombu.binding.celery", "celery-task-meta-x", "celery-taskset-meta-g.j", "abc.reply.celery.pidbox", "celeriac:flaky:k"} {
		w := f.do("POST", "/api/v1/tasks/tasks.add", `{"args": [1, 2], "queue": "`+q+`"}`, "Content-Type", "application/json")
		if w.Code != 422 {
			t.Errorf("queue %q: %d %s, want 422", q, w.Code, w.Body)
			continue
		}
		body := decode(t, w)
		details, _ := body["detail"].([]any)
		if len(details) != 1 {
			t.Fatalf("queue %q: body %v, want one field error", q, body)
		}
		d, _ := details[0].(map[string]any)
		if msg, _ := d["msg"].(string); d["type"] != "value_error" || !strings.Contains(msg, "invalid queue name") {
			t.Errorf("queue %q: detail %v", q, d)
		}
		if typ, _ := redis.String(f.redis.Do(t, "TYPE", q), nil); typ != "none" {
			t.Errorf("queue %q: the key is a %s after a refused request", q, typ)
		}
	}
	// Nor can the queue listing read one (LLEN on a hash was a 500).
	if w := f.do("GET", "/api/v1/queues?queue=unacked", ""); w.Code != 422 {
		t.Errorf("GET /api/v1/queues?queue=unacked: %d %s, want 422", w.Code, w.Body)
	}
	if w := f.do("POST", "/api/v1/tasks/tasks.add", `{"args": [1, 2], "queue": "jobs"}`, "Content-Type", "application/json"); w.Code != 202 {
		t.Errorf("a valid queue: %d %s", w.Code, w.Body)
	}
}
