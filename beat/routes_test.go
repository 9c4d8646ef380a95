package beat

import (
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// TestRoutes: an entry without a queue goes to its task's route's queue;
// a route through an exchange or to a broadcast queue is refused.
func TestRoutes(t *testing.T) {
	r, err := celery.ParseRoutes([]byte(`
task_routes:
  "reports.*": reports
  tasks.fanout: bq
  tasks.topic: {exchange: ex, exchange_type: topic, routing_key: a.b}
task_queues:
  bq: {broadcast: true}
`), false)
	if err != nil {
		t.Fatal(err)
	}
	b := &Beat{o: options{routes: r, defaultQueue: "dflt"}}
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{Task: "reports.daily"}, "reports"},
		{Entry{Task: "reports.daily", Queue: "mine"}, "mine"},
		{Entry{Task: "other"}, "dflt"},
	} {
		if got := b.queueOf(&tc.e); got != tc.want {
			t.Errorf("queueOf(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
	every := Every(time.Second)
	for task, want := range map[string]string{"tasks.fanout": "fanout queue bq", "tasks.topic": "through an exchange"} {
		_, err := New(nopStore{}, []Entry{{Name: "e", Task: task, Schedule: every}}, WithRoutes(r))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: New: %v, want an error containing %q", task, err, want)
		}
		// With a queue of its own the entry does not use the route.
		if _, err := New(nopStore{}, []Entry{{Name: "e", Task: task, Schedule: every, Queue: "q"}}, WithRoutes(r)); err != nil {
			t.Errorf("%s with a queue: %v", task, err)
		}
	}
}

// nopStore is a Store New accepts; the test never runs the Beat.
type nopStore struct{ Store }
