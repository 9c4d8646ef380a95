package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoutesFlagErrors: a routes file that cannot be read or used is a
// one-line usage error (exit 2) for every command that takes --routes.
func TestRoutesFlagErrors(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"syntax.yaml": "task_routes: {a: ",
		"key.yaml":    "task_routes: {a: {queue: x, delivery_mode: 1}}",
		"regexp.toml": "[task_routes]\n\"re:(\" = \"x\"\n",
		"table.yaml":  "task_rotues: {}",
	}
	for name, doc := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files["missing.yaml"] = ""
	for name := range files {
		path := filepath.Join(dir, name)
		for _, args := range [][]string{
			{"worker", "--routes", path},
			{"serve", "--routes", path},
			{"call", "tasks.add", "--routes", path},
			{"beat", "--schedule", path, "--routes", path},
		} {
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			msg := strings.TrimSpace(errb.String())
			if code != 2 || !strings.Contains(msg, "--routes") || strings.Contains(msg, "\n") {
				t.Errorf("%s %s: exit %d, stderr %q; want 2 and one line naming --routes", args[0], name, code, msg)
			}
		}
	}
}

// TestBroadcastQueuesFlag: --broadcast-queues declares fanout queues and
// adds them to -Q; a bad name is a usage error.
func TestBroadcastQueuesFlag(t *testing.T) {
	fs := newFlagSet("worker")
	var f workerFlags
	f.register(fs)
	if err := fs.Parse([]string{"-Q", "a", "--broadcast-queues", "b1,b2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.finish(fs); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.queueList, ","); got != "a,b1,b2" {
		t.Errorf("queues %s, want a,b1,b2", got)
	}
	if q, ok := f.routes.QueueSpec("b2"); !ok || !q.Broadcast() {
		t.Errorf("b2: %+v, want a broadcast queue", q)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"worker", "--broadcast-queues", "_kombu.x"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--broadcast-queues") {
		t.Errorf("bad name: exit %d, %q", code, errb.String())
	}
}
