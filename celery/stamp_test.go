package celery

import (
	"testing"
)

func TestSignatureStampReachesEveryNestedSignature(t *testing.T) {
	eb := S("tasks.eb")
	body := S("tasks.xsum").WithLinkError(eb)
	sig := Chain(S("tasks.add", 1, 1).Set("stamped_headers", []any{"old"}).Set("old", "o"),
		Chord([]Signature{S("tasks.add", 1), NewGroup(S("tasks.add", 2))}, body))
	st := sig.Stamp(map[string]any{"k": "v"})
	var seen int
	var walk func(s Signature, depth int)
	walk = func(s Signature, depth int) {
		seen++
		if got := s.Stamps()["k"]; got != "v" {
			t.Errorf("%s (depth %d): stamps %v", s.Task, depth, s.Stamps())
		}
		if s.Task == "tasks.add" && len(s.Args) == 2 && s.Stamps()["old"] != "o" {
			t.Errorf("an earlier stamp was lost: %v", s.Stamps())
		}
		if l, ok := s.Options["link_error"].([]any); ok {
			for _, v := range l {
				e, _ := AsSignature(v)
				walk(e, depth+1)
			}
		}
		switch s.SubtaskType {
		case SubtaskChain, SubtaskGroup:
			ts, _ := s.Tasks()
			for _, x := range ts {
				walk(x, depth+1)
			}
		case SubtaskChord:
			h, _ := SignatureFromMap(s.Kwargs["header"].(map[string]any))
			walk(h, depth+1)
			b, _ := s.Body()
			walk(b, depth+1)
		}
	}
	walk(st, 0)
	// chain, add, chord, header group, add, group, add, body, errback
	if seen != 9 {
		t.Errorf("visited %d signatures, want 9", seen)
	}
	if sig.Stamps() != nil {
		t.Error("Stamp changed the original signature")
	}
}

func TestApplyStampedSignatureSetsHeaders(t *testing.T) {
	sig := S("tasks.add", 1, 2).Stamp(map[string]any{"b": 1, "a": []any{"x"}})
	opts, err := sigOptions(sig)
	if err != nil {
		t.Fatal(err)
	}
	var o sendOptions
	for _, f := range opts {
		f(&o)
	}
	if len(o.msg.StampedHeaders) != 2 || o.msg.StampedHeaders[0] != "a" || o.msg.StampedHeaders[1] != "b" || o.msg.Stamps["b"] != 1 {
		t.Errorf("stamped_headers %v, stamps %v", o.msg.StampedHeaders, o.msg.Stamps)
	}
}
