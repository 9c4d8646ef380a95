//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

// TestBatchedDrainForPython: a backlog drained by a Go worker, whose
// fetches wait for a batch while its pool is fed and whose SUCCESSes
// finishing together share one MULTI, gives a Python client every result
// once, right, by GET or by its pub/sub wait.
func TestBatchedDrainForPython(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 300
	type item struct {
		Name string `json:"name"`
		Args []any  `json:"args"`
	}
	items := make([]item, n)
	for i := range items {
		items[i] = item{"tasks.add", []any{i, i}}
	}
	stdin, _ := json.Marshal(items)
	ctx := ctxFor(t, 2*time.Minute)
	// The client sends the backlog, then waits for every result; the
	// worker starts once the whole backlog waits in the queue.
	cmd := exec.CommandContext(ctx, pypeer.Python(t), "client.py", "send-get", "--timeout", "60")
	cmd.Dir = pypeer.PyAppDir(t)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CELERY_") && !strings.HasPrefix(kv, "CELERIAC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CELERY_BROKER_URL="+e.URL, "CELERY_RESULT_BACKEND="+e.URL)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if l, _ := e.Redis.Do(t, "LLEN", "celery").(int64); l >= n {
			break
		}
		select {
		case <-tick.C:
		case err := <-waited:
			t.Fatalf("client.py send-get exited before sending everything: %v\n%s", err, stderr.String())
		}
	}
	e.Redis.Do(t, "CONFIG", "RESETSTAT")
	startGoWorker(t, e.URL, nil, worker.WithConcurrency(8))
	if err := <-waited; err != nil {
		t.Fatalf("client.py send-get: %v\n%s", err, stderr.String())
	}
	var got []struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Result any    `json:"result"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("client.py output %s: %v", stdout.Bytes(), err)
	}
	if len(got) != n {
		t.Fatalf("got %d results for %d tasks", len(got), n)
	}
	seen := map[string]bool{}
	for i, r := range got {
		if r.State != "SUCCESS" || r.Result != float64(2*i) {
			t.Errorf("task %d: %s %v, want SUCCESS %d", i, r.State, r.Result, 2*i)
		}
		if seen[r.ID] {
			t.Errorf("task %d: id %s twice", i, r.ID)
		}
		seen[r.ID] = true
	}
	// How the work was batched depends on timing: logged, not asserted.
	stats, _ := e.Redis.Do(t, "INFO", "commandstats").([]byte)
	for line := range strings.SplitSeq(string(stats), "\n") {
		if strings.HasPrefix(line, "cmdstat_exec:") || strings.HasPrefix(line, "cmdstat_evalsha:") {
			t.Logf("%d tasks: %s", n, strings.TrimSpace(line))
		}
	}
}
