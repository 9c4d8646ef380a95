//go:build integration

package integration

import (
	"slices"
	"testing"

	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

// smPy runs a Python script (with the tasks app importable, stdin data in
// D) and decodes the JSON it prints into out.
func smPy(t *testing.T, url, code string, out any) {
	t.Helper()
	wkPy(t, url, "import json\nfrom tasks import app\n"+code, nil, out)
}

// smExtendedScript sends tasks.add to each queue given and prints, per
// queue, the stored meta's keys and what Python's AsyncResult reads.
const smExtendedScript = `
from tasks import add
out = {}
for q in QUEUES:
    r = add.apply_async((2, 3), queue=q)
    r.get(timeout=30)
    raw = json.loads(app.backend.client.get(app.backend.get_key_for_task(r.id)))
    out[q] = {"keys": sorted(raw), "name": r.name, "args": r.args, "kwargs": r.kwargs,
              "worker": r.worker, "queue": r.queue, "retries": r.retries}
print(json.dumps(out))
`

// A Go worker stores the result_extended fields only when asked, as a
// Python worker does: by default Python's AsyncResult has no name, args,
// kwargs, worker or queue, and the stored keys are those a Python worker
// with result_extended=False stores; with WithResultExtended(true) they
// are those of a Python worker with result_extended=True.
func TestSemanticsResultExtended(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("py"), pypeer.WithEnv("CELERIAC_RESULT_EXTENDED=0"))
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("pyx"), pypeer.WithEnv("CELERIAC_RESULT_EXTENDED=1"))
	startGoWorker(t, e.URL, nil, worker.WithQueues("go"), worker.WithHostname("go-plain@celeriac"), wkLogger(t))
	startGoWorker(t, e.URL, nil, worker.WithQueues("gox"), worker.WithHostname("go-ext@celeriac"), worker.WithResultExtended(true), wkLogger(t))
	type meta struct {
		Keys    []string       `json:"keys"`
		Name    *string        `json:"name"`
		Args    []any          `json:"args"`
		Kwargs  map[string]any `json:"kwargs"`
		Worker  *string        `json:"worker"`
		Queue   *string        `json:"queue"`
		Retries *int           `json:"retries"`
	}
	var got map[string]meta
	smPy(t, e.URL, `QUEUES = ["py", "pyx", "go", "gox"]`+"\n"+smExtendedScript, &got)
	for _, pair := range [][2]string{{"py", "go"}, {"pyx", "gox"}} {
		py, gw := got[pair[0]], got[pair[1]]
		if !slices.Equal(py.Keys, gw.Keys) {
			t.Errorf("stored keys: Python %v, Go %v", py.Keys, gw.Keys)
		}
	}
	if m := got["go"]; m.Name != nil || m.Args != nil || m.Kwargs != nil || m.Worker != nil || m.Queue != nil {
		t.Errorf("default Go worker: AsyncResult name %v args %v kwargs %v worker %v queue %v, want all None", m.Name, m.Args, m.Kwargs, m.Worker, m.Queue)
	}
	if m := got["gox"]; m.Name == nil || *m.Name != "tasks.add" || !slices.Equal(m.Args, []any{2.0, 3.0}) ||
		m.Worker == nil || *m.Worker != "go-ext@celeriac" || m.Queue == nil || *m.Queue != "gox" || m.Retries == nil || *m.Retries != 0 {
		t.Errorf("extended Go worker: AsyncResult %+v", m)
	}
	if slices.Contains(got["py"].Keys, "name") || !slices.Contains(got["pyx"].Keys, "name") {
		t.Errorf("Python reference: result_extended off stores %v, on stores %v", got["py"].Keys, got["pyx"].Keys)
	}
}
