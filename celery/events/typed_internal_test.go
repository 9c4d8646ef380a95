package events

import (
	"reflect"
	"testing"
	"time"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// TestFieldsMatchTags: the map a Dispatcher sends for a typed event (its
// fields method) holds exactly what encoding the struct by its JSON tags
// gives, so the two cannot drift apart.
func TestFieldsMatchTags(t *testing.T) {
	s, n, n64 := "x", 9, int64(7)
	d := &Dispatcher{hostname: "w@h", clock: &Clock{}, pid: 1, now: time.Now}
	for _, ev := range []Typed{
		&TaskSentEvent{UUID: "u", RootID: &s, ParentID: &s, Name: "n", Args: "()", Kwargs: "{}", Retries: 1, ETA: &s, Expires: &s, Queue: "q", Exchange: "e", RoutingKey: "r"},
		&TaskSentEvent{UUID: "u"},
		&TaskReceivedEvent{UUID: "u", Name: "n", Args: "()", Kwargs: "{}", RootID: &s, ParentID: &s, Retries: 2, ETA: &s, Expires: &s},
		&TaskReceivedEvent{UUID: "u"},
		&TaskStartedEvent{UUID: "u"},
		&TaskSucceededEvent{UUID: "u", Result: "r", Runtime: 1.5},
		&TaskFailedEvent{UUID: "u", Exception: "E()", Traceback: "tb"},
		&TaskFailedEvent{UUID: "u", Exception: "E()"},
		&TaskRetriedEvent{UUID: "u", Exception: "E()", Traceback: "tb"},
		&TaskRevokedEvent{UUID: "u", Terminated: true, Signum: &n, Expired: true},
		&TaskRevokedEvent{UUID: "u"},
		&TaskRejectedEvent{UUID: "u", Requeue: true},
		&WorkerOnlineEvent{WorkerState: WorkerState{SWIdent: "i", SWVer: "v", SWSys: "s", Freq: 2, Active: &n, Processed: &n64, Loadavg: []float64{1, 2, 3}}},
		&WorkerHeartbeatEvent{WorkerState: WorkerState{SWIdent: "i", Freq: 5}},
		&WorkerOfflineEvent{},
	} {
		body := d.stamp(ev)
		if _, isMap := body.(Event); !isMap {
			t.Fatalf("%T: not sent as a map", ev)
		}
		fromMap, _ := pyjson.Encode(body)
		fromTags, _ := pyjson.Encode(ev)
		var a, b any
		if err := pyjson.Unmarshal(fromMap, &a); err != nil {
			t.Fatal(err)
		}
		if err := pyjson.Unmarshal(fromTags, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%T:\nsent  %s\ntags  %s", ev, fromMap, fromTags)
		}
	}
}
