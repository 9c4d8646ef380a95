package redis

import (
	"reflect"
	"sync"
	"testing"

	"github.com/celeriac/celeriac/celery"
)

// sent collects the messages a client publishes.
type sent struct {
	mu   sync.Mutex
	msgs []*celery.Message
}

func (s *sent) hook(m *celery.Message, _ celery.Publishing) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
}

func TestApplyCanvasMessages(t *testing.T) {
	var rec sent
	c, srv := newTestClient(t, WithClientOptions(celery.WithSentHook(rec.hook)))
	ctx := testCtx(t)
	for _, tc := range []struct {
		name  string
		sig   celery.Signature
		info  celery.ApplyInfo
		check func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message)
	}{
		{"partial args prepended", celery.S("tasks.add", 1), celery.ApplyInfo{Args: []any{5}, ParentID: "p", RootID: "r"},
			func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message) {
				m := msgs[0]
				if !reflect.DeepEqual(m.Args, []any{5, 1}) || m.ParentID != "p" || m.RootID != "r" || m.ID != r.ID {
					t.Errorf("message %+v", m)
				}
			}},
		{"immutable ignores partial args", celery.Si("tasks.add", 1, 1), celery.ApplyInfo{Args: []any{5}},
			func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message) {
				if !reflect.DeepEqual(msgs[0].Args, []any{1, 1}) {
					t.Errorf("args %v", msgs[0].Args)
				}
			}},
		{"task_id option is the message id", celery.S("tasks.add", 1, 1).Set("task_id", "fixed"), celery.ApplyInfo{},
			func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message) {
				if msgs[0].ID != "fixed" || r.ID != "fixed" || msgs[0].RootID != "fixed" {
					t.Errorf("id %s root %s result %s", msgs[0].ID, msgs[0].RootID, r.ID)
				}
			}},
		{"chain", celery.Chain(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2), celery.S("tasks.mul", 3)), celery.ApplyInfo{},
			func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message) {
				if len(msgs) != 1 {
					t.Fatalf("%d messages", len(msgs))
				}
				m := msgs[0]
				ch := m.Embed.Chain
				if len(ch) != 2 || ch[0].Task != "tasks.mul" || ch[1].Task != "tasks.add" || !reflect.DeepEqual(ch[1].Args, []any{2}) {
					t.Fatalf("embed.chain %+v", ch)
				}
				if ch[0].ID() == "" || ch[1].ID() == "" || r.ID != ch[0].ID() || m.RootID != m.ID {
					t.Errorf("ids: result %s chain %s %s root %s", r.ID, ch[0].ID(), ch[1].ID(), m.RootID)
				}
			}},
		{"group", celery.NewGroup(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2), celery.S("tasks.add", 3, 3)), celery.ApplyInfo{},
			func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message) {
				if r.Group == nil || len(r.Group.Results) != 3 || len(msgs) != 3 {
					t.Fatalf("group result %+v, %d messages", r.Group, len(msgs))
				}
				for i, m := range msgs {
					if m.Group != r.Group.ID || m.GroupIdx == nil || *m.GroupIdx != i || m.ID != r.Group.Results[i].ID {
						t.Errorf("member %d: group %s idx %v id %s", i, m.Group, m.GroupIdx, m.ID)
					}
				}
			}},
		{"chord", celery.Chord([]celery.Signature{celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2)}, celery.S("tasks.xsum")), celery.ApplyInfo{},
			func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message) {
				if len(msgs) != 2 {
					t.Fatalf("%d messages", len(msgs))
				}
				gid := msgs[0].Group
				for i, m := range msgs {
					if m.Group != gid || *m.GroupIdx != i || m.Embed.Chord == nil || m.Embed.Chord.ID() != r.ID {
						t.Errorf("member %d: %+v", i, m)
					}
				}
				if got := srv.Do(t, "GET", "celery-taskset-meta-"+gid+".s"); string(got.([]byte)) != "2" {
					t.Errorf(".s = %v", got)
				}
			}},
		{"group then step is a chord", celery.Chain(celery.NewGroup(celery.S("tasks.add", 1, 1)), celery.S("tasks.xsum")), celery.ApplyInfo{},
			func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message) {
				if len(msgs) != 1 || msgs[0].Embed.Chord == nil || msgs[0].Embed.Chord.Task != "tasks.xsum" {
					t.Errorf("messages %+v", msgs)
				}
			}},
		{"chain in a chord header reports from its last step", celery.Chord([]celery.Signature{celery.Chain(celery.S("tasks.add", 1, 1), celery.S("tasks.mul", 2))}, celery.S("tasks.xsum")), celery.ApplyInfo{},
			func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message) {
				m := msgs[0]
				if m.Embed.Chord != nil || m.Group != "" || len(m.Embed.Chain) != 1 {
					t.Fatalf("first step %+v", m)
				}
				last := m.Embed.Chain[0]
				if last.Options["group_id"] == nil || last.Options["chord"] == nil || last.Options["group_index"] != 0 {
					t.Errorf("last step options %v", last.Options)
				}
			}},
		{"remaining chain after a plain task", celery.S("tasks.add", 1, 1), celery.ApplyInfo{Chain: []celery.Signature{celery.S("tasks.mul", 2)}},
			func(t *testing.T, r *celery.CanvasResult, msgs []*celery.Message) {
				if len(msgs[0].Embed.Chain) != 1 {
					t.Errorf("embed.chain %+v", msgs[0].Embed.Chain)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.mu.Lock()
			rec.msgs = nil
			rec.mu.Unlock()
			r, err := c.ApplyCanvas(ctx, tc.sig, tc.info)
			if err != nil {
				t.Fatal(err)
			}
			rec.mu.Lock()
			msgs := rec.msgs
			rec.mu.Unlock()
			tc.check(t, r, msgs)
		})
	}
}

func TestChordPartReturn(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	b := c.Backend()
	const gid = "g1"
	if err := b.SetChordSize(ctx, gid, 2); err != nil {
		t.Fatal(err)
	}
	one, zero := 1, 0
	for _, step := range []struct {
		tid     string
		idx     *int
		claimed bool
	}{
		{"t1", &one, false},
		{"t1", &one, false}, // a redelivered duplicate counts once
		{"t0", &zero, true},
	} {
		cl, err := b.ChordPartReturn(ctx, gid, step.idx, step.tid, celery.StateSuccess, step.tid+"-result")
		if err != nil {
			t.Fatal(err)
		}
		if (cl != nil) != step.claimed {
			t.Fatalf("%s: claimed = %v, want %v", step.tid, cl != nil, step.claimed)
		}
		if cl == nil {
			continue
		}
		want := []celery.ChordPart{{TaskID: "t0", State: celery.StateSuccess, Result: "t0-result"}, {TaskID: "t1", State: celery.StateSuccess, Result: "t1-result"}}
		if !reflect.DeepEqual(cl.Parts, want) {
			t.Errorf("parts = %+v, want %+v (group index order)", cl.Parts, want)
		}
		if err := cl.Done(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{".j", ".s", ".d"} {
		if n := srv.Do(t, "EXISTS", "celery-taskset-meta-"+gid+k); n != int64(0) {
			t.Errorf("%s still exists", k)
		}
	}
	if cl, err := b.ChordPartReturn(ctx, gid, &zero, "t0", celery.StateSuccess, 1); err != nil || cl != nil {
		t.Errorf("late duplicate after done: %v, %v", cl, err)
	}
}
