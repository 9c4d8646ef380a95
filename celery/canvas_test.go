package celery

import (
	"reflect"
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
