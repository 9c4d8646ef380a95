package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestQueueFlagsRefuseReservedKeys: every flag naming a queue refuses the
// keys of the transport and the backend, in one line, with exit 2, before
// connecting to anything.
func TestQueueFlagsRefuseReservedKeys(t *testing.T) {
	for _, args := range [][]string{
		{"call", "tasks.add", "--queue", "unacked"},
		{"call", "tasks.add", "--queue", "_kombu.binding.reply.celery.pidbox"},
		{"purge", "-Q", "celery,unacked_mutex"},
		{"worker", "-Q", "celery,celery-task-meta-x"},
		{"serve", "-Q", "abc.reply.celery.pidbox"},
		{"worker", "-Q", "a\x06\x163"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append(args, "--broker", "redis://127.0.0.1:1/0"), &out, &errb)
			msg := strings.TrimSpace(errb.String())
			if code != 2 || !strings.Contains(msg, "invalid queue name") || strings.Contains(msg, "\n") {
				t.Errorf("run(%q) = %d, stderr %q; want 2 and one line about the queue name", args, code, errb.String())
			}
		})
	}
}
