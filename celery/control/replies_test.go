package control

import (
	"errors"
	"testing"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// decoded is what collect hands the typed methods: a reply body decoded
// from the wire.
func decoded(t *testing.T, js string) map[string]any {
	t.Helper()
	v, err := pyjson.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

// TestDecodePythonShapes: replies as a Python prefork and solo worker
// send them (max-tasks-per-child "N/A" or null, rusage "N/A", query_task
// pairs) decode into the typed replies.
func TestDecodePythonShapes(t *testing.T) {
	stats, err := decodeReplies[Stats](decoded(t, `{
	 "a@h": {"total": {"tasks.add": 3}, "pid": 7, "clock": "12", "uptime": 5,
	  "pool": {"implementation": "celery.concurrency.prefork:TaskPool", "max-concurrency": 2,
	   "processes": [8, 9], "max-tasks-per-child": "N/A", "put-guarded-by-semaphore": false,
	   "timeouts": [0, 0], "writes": {"total": 0}},
	  "broker": {"hostname": "127.0.0.1", "userid": null, "virtual_host": "0", "port": 6379,
	   "insist": false, "ssl": false, "transport": "redis", "connect_timeout": 4,
	   "transport_options": {}, "login_method": null, "uri_prefix": null, "heartbeat": 120.0,
	   "failover_strategy": "round-robin", "alternates": []},
	  "prefetch_count": 8, "rusage": {"utime": 0.5, "maxrss": 100}},
	 "b@h": {"total": {}, "pid": 1, "clock": "1", "uptime": 0,
	  "pool": {"implementation": "celery.concurrency.solo:TaskPool", "max-concurrency": 1,
	   "processes": [1], "max-tasks-per-child": null, "put-guarded-by-semaphore": true, "timeouts": []},
	  "broker": {}, "prefetch_count": 4, "rusage": "N/A"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := stats["a@h"], stats["b@h"]
	if a.Total["tasks.add"] != 3 || a.Pool.MaxConcurrency != 2 || a.Pool.MaxTasksPerChild != "N/A" || a.Broker.Port != 6379 || a.Rusage.UTime != 0.5 || a.Rusage.MaxRSS != 100 || a.Abandoned != nil {
		t.Errorf("prefork stats = %+v", a)
	}
	if !b.Rusage.Unavailable || b.Pool.MaxTasksPerChild != nil || !*b.Pool.PutGuardedBySemaphore {
		t.Errorf("solo stats = %+v", b)
	}
	if got, _ := pyjson.Encode(b.Rusage); string(got) != `"N/A"` {
		t.Errorf("unavailable rusage encodes as %s", got)
	}

	qt, err := decodeReplies[map[string]TaskState](decoded(t, `{"a@h": {"id1": ["active",
	 {"id": "id1", "name": "tasks.add", "args": [1, 2], "kwargs": {}, "type": "tasks.add",
	  "hostname": "a@h", "time_start": 1.5, "acknowledged": true,
	  "delivery_info": {"exchange": "", "routing_key": "celery", "priority": 0, "redelivered": null},
	  "worker_pid": 8}]}}`), nil)
	if s := qt["a@h"]["id1"]; err != nil || s.State != "active" || s.Info.Name != "tasks.add" || *s.Info.WorkerPID != 8 || s.Info.DeliveryInfo.Redelivered != nil {
		t.Errorf("query_task = %+v, %v", qt, err)
	}
	if got, _ := pyjson.Encode(qt["a@h"]["id1"]); string(got[:10]) != `["active",` {
		t.Errorf("TaskState encodes as %s", got)
	}
}

// TestDecodeNodeErrors: an error answer to a typed inspect, or a reply of
// another shape, is a NodeError for that node; the other nodes decode.
func TestDecodeNodeErrors(t *testing.T) {
	collectErr := errors.New("connection lost")
	got, err := decodeReplies[[]string](decoded(t, `{"a@h": ["x"], "b@h": {"error": "KeyError('revoked')"}, "c@h": 3}`), collectErr)
	if len(got) != 1 || got["a@h"][0] != "x" {
		t.Errorf("decoded = %v", got)
	}
	var ne *NodeError
	if !errors.As(err, &ne) || !errors.Is(err, collectErr) {
		t.Fatalf("err = %v", err)
	}
	if left := WithoutNodeErrors(err); left == nil || left.Error() != collectErr.Error() {
		t.Errorf("WithoutNodeErrors = %v", left)
	}
	st, err := decodeStatus(decoded(t, `{"a@h": {"ok": "pong"}, "b@h": {"error": "unknown task"}, "c@h": [1]}`), nil)
	if st["a@h"].OK != "pong" || st["b@h"].Error != "unknown task" || len(st) != 2 {
		t.Errorf("statuses = %v", st)
	}
	if !errors.As(err, &ne) || ne.Node != "c@h" || WithoutNodeErrors(err) != nil {
		t.Errorf("status err = %v", err)
	}
}
