package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
)

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"worker", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"worker", "--broker", "amqp://x"}, 1, "unsupported scheme"},
		{[]string{"worker", "--loglevel", "loud"}, 1, "--loglevel"},
		{[]string{"call"}, 1, "want exactly one task name"},
		{[]string{"call", "tasks.add", "--args", "{"}, 1, "--args"},
		{[]string{"call", "tasks.add", "--args", "{}"}, 1, "want a JSON array"},
		{[]string{"call", "tasks.add", "--expires", "soon"}, 1, "--expires"},
		{[]string{"result"}, 1, "want exactly one task id"},
		{[]string{"purge", "--broker", "redis://h:notaport"}, 1, "port"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
				t.Errorf("run(%q) = %d, stderr %q; want %d containing %q", tc.args, code, errb.String(), tc.code, tc.msg)
			}
			if tc.code == 1 && strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 {
				t.Errorf("error is not one line: %q", errb.String())
			}
		})
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunEmbedded is `make run` in miniature: the embedded broker starts,
// the URL is printed and a task sent to it is executed.
func TestRunEmbedded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuf
	done := make(chan error, 1)
	go func() {
		done <- cmdRun(ctx, []string{"--embedded-addr", "127.0.0.1:0", "--loglevel", "warning"}, &out, &errb)
	}()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		for _, f := range strings.Fields(out.String()) {
			if strings.HasPrefix(f, "redis://") {
				url = f
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no broker URL printed: %s %s", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := celery.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	res, err := c.SendTask(wctx, "tasks.add", celery.Args(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := res.Get(wctx, &sum); err != nil || sum != 5 {
		t.Fatalf("tasks.add via make run = %d, %v", sum, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("cmdRun: %v", err)
	}
}

func TestExpandNodename(t *testing.T) {
	if got := expandNodename("w1"); !strings.HasPrefix(got, "celery@w1") && got != "celery@w1" {
		t.Errorf("expandNodename(w1) = %q", got)
	}
	if got := expandNodename("a@%h"); strings.Contains(got, "%") || !strings.HasPrefix(got, "a@") {
		t.Errorf("expandNodename(a@%%h) = %q", got)
	}
}
