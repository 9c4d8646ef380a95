package celery

import (
	"reflect"
	"sync"
	"testing"

	"github.com/celeriac/celeriac/internal/pyjson"
)

func TestSignatureDictRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  Signature
	}{
		{"plain", S("tasks.add", 1, 2)},
		{"immutable", Si("tasks.add", 1, 2).Set("task_id", "x")},
		{"kwargs and options", S("tasks.echo").WithKwargs(map[string]any{"a": "b"}).Set("queue", "q").Set("priority", 3)},
		{"link", S("tasks.add", 2, 2).WithLink(S("tasks.mul", 10)).WithLinkError(S("tasks.fail"))},
		{"chain", Chain(S("tasks.add", 1, 1), S("tasks.mul", 2))},
		{"group", NewGroup(S("tasks.add", 1, 1), Si("tasks.add", 2, 2))},
		{"chord", Chord([]Signature{S("tasks.add", 1, 1)}, S("tasks.xsum"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := pyjson.Encode(tc.sig.Map())
			if err != nil {
				t.Fatal(err)
			}
			v, err := pyjson.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			back, err := SignatureFromMap(v.(map[string]any))
			if err != nil {
				t.Fatal(err)
			}
			raw2, err := pyjson.Encode(back.Map())
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != string(raw2) {
				t.Errorf("round trip:\n%s\n%s", raw, raw2)
			}
		})
	}
}

func TestSignatureSetCopies(t *testing.T) {
	a := S("tasks.add").Set("queue", "a")
	b := a.Set("queue", "b")
	if a.Options["queue"] != "a" || b.Options["queue"] != "b" {
		t.Errorf("Set changed the original: %v %v", a.Options, b.Options)
	}
}

func TestFlattenChain(t *testing.T) {
	steps, err := flattenChain([]Signature{
		S("a"), Chain(S("b"), Chain(S("c"))), NewGroup(S("d"), S("e")), S("f"), S("g"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.Task)
	}
	want := []string{"a", "b", "c", "celery.chord", "g"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("flattened = %v, want %v", got, want)
	}
}

// sent collects the messages a client publishes.
type sent struct {
	mu   sync.Mutex
	msgs []*Message
}

func (s *sent) hook(m *Message, _ Publishing) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
}

func TestApplyCanvasMessages(t *testing.T) {
	var rec sent
	c, srv := newTestClient(t, WithSentHook(rec.hook))
	ctx := testCtx(t)
	for _, tc := range []struct {
		name  string
		sig   Signature
		info  ApplyInfo
		check func(t *testing.T, r *CanvasResult, msgs []*Message)
	}{
		{"partial args prepended", S("tasks.add", 1), ApplyInfo{Args: []any{5}, ParentID: "p", RootID: "r"},
			func(t *testing.T, r *CanvasResult, msgs []*Message) {
				m := msgs[0]
				if !reflect.DeepEqual(m.Args, []any{5, 1}) || m.ParentID != "p" || m.RootID != "r" || m.ID != r.ID {
					t.Errorf("message %+v", m)
				}
			}},
		{"immutable ignores partial args", Si("tasks.add", 1, 1), ApplyInfo{Args: []any{5}},
			func(t *testing.T, r *CanvasResult, msgs []*Message) {
				if !reflect.DeepEqual(msgs[0].Args, []any{1, 1}) {
					t.Errorf("args %v", msgs[0].Args)
				}
			}},
		{"task_id option is the message id", S("tasks.add", 1, 1).Set("task_id", "fixed"), ApplyInfo{},
			func(t *testing.T, r *CanvasResult, msgs []*Message) {
				if msgs[0].ID != "fixed" || r.ID != "fixed" || msgs[0].RootID != "fixed" {
					t.Errorf("id %s root %s result %s", msgs[0].ID, msgs[0].RootID, r.ID)
				}
			}},
		{"chain", Chain(S("tasks.add", 1, 1), S("tasks.add", 2), S("tasks.mul", 3)), ApplyInfo{},
			func(t *testing.T, r *CanvasResult, msgs []*Message) {
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
		{"group", NewGroup(S("tasks.add", 1, 1), S("tasks.add", 2, 2), S("tasks.add", 3, 3)), ApplyInfo{},
			func(t *testing.T, r *CanvasResult, msgs []*Message) {
				if r.Group == nil || len(r.Group.Results) != 3 || len(msgs) != 3 {
					t.Fatalf("group result %+v, %d messages", r.Group, len(msgs))
				}
				for i, m := range msgs {
					if m.Group != r.Group.ID || m.GroupIdx == nil || *m.GroupIdx != i || m.ID != r.Group.Results[i].ID {
						t.Errorf("member %d: group %s idx %v id %s", i, m.Group, m.GroupIdx, m.ID)
					}
				}
			}},
		{"chord", Chord([]Signature{S("tasks.add", 1, 1), S("tasks.add", 2, 2)}, S("tasks.xsum")), ApplyInfo{},
			func(t *testing.T, r *CanvasResult, msgs []*Message) {
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
		{"group then step is a chord", Chain(NewGroup(S("tasks.add", 1, 1)), S("tasks.xsum")), ApplyInfo{},
			func(t *testing.T, r *CanvasResult, msgs []*Message) {
				if len(msgs) != 1 || msgs[0].Embed.Chord == nil || msgs[0].Embed.Chord.Task != "tasks.xsum" {
					t.Errorf("messages %+v", msgs)
				}
			}},
		{"chain in a chord header reports from its last step", Chord([]Signature{Chain(S("tasks.add", 1, 1), S("tasks.mul", 2))}, S("tasks.xsum")), ApplyInfo{},
			func(t *testing.T, r *CanvasResult, msgs []*Message) {
				m := msgs[0]
				if m.Embed.Chord != nil || m.Group != "" || len(m.Embed.Chain) != 1 {
					t.Fatalf("first step %+v", m)
				}
				last := m.Embed.Chain[0]
				if last.Options["group_id"] == nil || last.Options["chord"] == nil || last.Options["group_index"] != 0 {
					t.Errorf("last step options %v", last.Options)
				}
			}},
		{"remaining chain after a plain task", S("tasks.add", 1, 1), ApplyInfo{Chain: []Signature{S("tasks.mul", 2)}},
			func(t *testing.T, r *CanvasResult, msgs []*Message) {
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
		cl, err := b.ChordPartReturn(ctx, gid, step.idx, step.tid, StateSuccess, step.tid+"-result")
		if err != nil {
			t.Fatal(err)
		}
		if (cl != nil) != step.claimed {
			t.Fatalf("%s: claimed = %v, want %v", step.tid, cl != nil, step.claimed)
		}
		if cl == nil {
			continue
		}
		want := []ChordPart{{"t0", StateSuccess, "t0-result"}, {"t1", StateSuccess, "t1-result"}}
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
	if cl, err := b.ChordPartReturn(ctx, gid, &zero, "t0", StateSuccess, 1); err != nil || cl != nil {
		t.Errorf("late duplicate after done: %v, %v", cl, err)
	}
}
