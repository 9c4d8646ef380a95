//go:build integration

package amqp

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// TestCanvasOverAMQP: a chain, a group and a chord (its join on the
// Redis backend) sent by the Go client run on a Go worker over RabbitMQ:
// the worker publishes each next step through the AMQP transport.
func TestCanvasOverAMQP(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t, "-c", "4", "-n", "gocanvas@%h")
	header := []celery.Signature{celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2), celery.S("tasks.add", 3, 3)}
	for _, tc := range []struct {
		name string
		sig  celery.Signature
		want string
	}{
		{"chain", celery.Chain(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2), celery.S("tasks.mul", 3)), "12"},
		{"group", celery.NewGroup(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2)), "[2,4]"},
		{"chord", celery.Chord(header, celery.S("tasks.xsum")), "12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t, 30*time.Second)
			r, err := e.Client.ApplyCanvas(ctx, tc.sig, celery.ApplyInfo{})
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if r.Group != nil {
				l, err := r.Group.Join(ctx)
				if err != nil {
					t.Fatal(err)
				}
				v = l
			} else if err := r.Get(ctx, &v); err != nil {
				t.Fatal(err)
			}
			if b, _ := json.Marshal(v); string(b) != tc.want {
				t.Errorf("%s = %s, want %s", tc.name, b, tc.want)
			}
		})
	}
}
