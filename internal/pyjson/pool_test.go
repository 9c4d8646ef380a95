package pyjson

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// TestDecodePooledState checks that a pooled decoder carries nothing from
// one Decode to the next: not after a failure half-way through a big
// object, and not across goroutines.
func TestDecodePooledState(t *testing.T) {
	var big strings.Builder
	big.WriteString(`{`)
	for i := range 200 {
		fmt.Fprintf(&big, `"k%d": ["v%d", %d, {"x": "\u00e9%d"}], `, i, i, i, i)
	}
	bad := big.String() + `"broken": [1, 2,` // unterminated
	good := `{"a": [1, "two", {"b": null}], "c": "d\u00e9"}`
	want, err := Decode([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Fatal("Decode(bad) succeeded")
		}
		got, err := Decode([]byte(good))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("after a failed Decode: %#v, %v; want %#v", got, err, want)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			doc := fmt.Sprintf(`{"g": %d, "list": ["x%d", "y%d"]}`, g, g, g)
			for range 200 {
				v, err := Decode([]byte(doc))
				if err != nil {
					t.Error(err)
					return
				}
				m := v.(map[string]any)
				if l := m["list"].([]any); l[0] != fmt.Sprintf("x%d", g) || len(m) != 2 {
					t.Errorf("goroutine %d got %#v", g, m)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestEncodeNamedMaps checks that named map[string]any and []any types
// (events.Event is one) encode exactly as the plain types do.
func TestEncodeNamedMaps(t *testing.T) {
	type event map[string]any
	type list []any
	plain := map[string]any{"type": "task-started", "uuid": "x", "clock": 3, "n": []any{1, "a", nil}, "z": map[string]any{"b": 1, "a": 2}}
	want, err := Encode([]any{plain, plain})
	if err != nil {
		t.Fatal(err)
	}
	named := event{"type": "task-started", "uuid": "x", "clock": 3, "n": list{1, "a", nil}, "z": event{"b": 1, "a": 2}}
	got, err := Encode([]event{named, named})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("named types: %s\nwant %s", got, want)
	}
	var nilEvent event
	if got, err := Encode(nilEvent); err != nil || string(got) != "null" {
		t.Errorf("nil named map: %s, %v", got, err)
	}
}
