package redis

import (
	"testing"

	"github.com/celeriac/celeriac/celery"
)

// TestKeyPrefixFromURL: a global_keyprefix query parameter is the default
// prefix of what the URL serves (broker, and results when the backend
// shares the broker's URL); options beat it.
func TestKeyPrefixFromURL(t *testing.T) {
	c, srv := newTestClient(t)
	c.Close()
	ctx := testCtx(t)
	url := srv.URL(0) + "?global_keyprefix=u:"

	c, err := newURLClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Broker().KeyPrefix() != "u:" {
		t.Errorf("broker prefix = %q, want u:", c.Broker().KeyPrefix())
	}
	if _, err := c.Backend().Store(ctx, &celery.ResultMeta{TaskID: "id1", Status: celery.StateSuccess, Result: 1}); err != nil {
		t.Fatal(err)
	}
	if srv.Do(t, "EXISTS", "u:celery-task-meta-id1") != int64(1) {
		t.Error("result not stored under u:celery-task-meta-id1")
	}

	c2, err := newURLClient(url, WithKeyPrefix("opt:"), WithResultBackend(srv.URL(0)+"?global_keyprefix=res"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Broker().KeyPrefix() != "opt:" {
		t.Errorf("WithKeyPrefix beside a URL prefix: %q, want opt:", c2.Broker().KeyPrefix())
	}
	if _, err := c2.Backend().Store(ctx, &celery.ResultMeta{TaskID: "id2", Status: celery.StateSuccess, Result: 2}); err != nil {
		t.Fatal(err)
	}
	// Celery appends "_" to a result prefix without a separator.
	if srv.Do(t, "EXISTS", "res_celery-task-meta-id2") != int64(1) {
		t.Error("result not stored under res_celery-task-meta-id2")
	}
}

func TestResultKeyPrefix(t *testing.T) {
	for in, want := range map[string]string{"": "", "x": "x_", "x:": "x:", "x_": "x_", "x-": "x-", "x.": "x.", "x/": "x/_"} {
		if got := resultKeyPrefix(in); got != want {
			t.Errorf("resultKeyPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
