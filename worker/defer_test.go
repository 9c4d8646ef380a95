package worker_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/kombu"
)

// TestETAHeldScoredAtETA: a message the worker holds for its ETA has its
// unacked_index score moved to the ETA, so that no visibility sweep
// restores it before the ETA plus the visibility timeout (issue #22).
func TestETAHeldScoredAtETA(t *testing.T) {
	f := start(t, nil)
	eta := time.Now().Add(time.Hour)
	if _, err := f.client.SendTask(ctx(t), "tasks.add", celery.Args(1, 2), celery.ETA(eta)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tags, err := redis.Strings(f.srv.Do(t, "ZRANGE", kombu.UnackedIndexKey, 0, -1, "WITHSCORES"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) == 2 {
			score, _ := strconv.ParseFloat(tags[1], 64)
			if d := score - float64(eta.UnixMicro())/1e6; d > -0.01 && d < 0.01 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("unacked_index %v, want the held message scored at its ETA %v", tags, float64(eta.UnixMicro())/1e6)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
