package worker

import (
	"slices"
	"syscall"
	"testing"
)

func TestExcRepr(t *testing.T) {
	for _, tc := range []struct {
		exc  map[string]any
		want string
	}{
		{map[string]any{"exc_type": "ValueError", "exc_message": []any{"nope"}}, "ValueError('nope')"},
		{map[string]any{"exc_type": "KeyError", "exc_message": []any{}}, "KeyError()"},
		{map[string]any{"exc_type": "E", "exc_message": []any{"a", 1}}, "E('a', 1)"},
	} {
		if got := excRepr(tc.exc); got != tc.want {
			t.Errorf("excRepr(%v) = %q, want %q", tc.exc, got, tc.want)
		}
	}
}

func TestSignalNumber(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
		ok   bool
	}{
		{"", int(syscall.SIGTERM), true},
		{"SIGKILL", int(syscall.SIGKILL), true},
		{"KILL", int(syscall.SIGKILL), true},
		{"term", int(syscall.SIGTERM), true},
		{"9", 9, true},
		{"SIGBOGUS", 0, false},
	} {
		got, ok := signalNumber(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("signalNumber(%q) = %d, %v", tc.name, got, ok)
		}
	}
}

func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://localhost:6379/0", "redis://localhost:6379/0"},
		{"redis://:secret@h:1/0", "redis://:**@h:1/0"},
		{"redis://user:secret@h/0", "redis://user:**@h/0"},
		{"redis://secret@h/0", "redis://:**@h/0"},
		{"redis://:p@ss@h/0", "redis://:**@h/0"},
		{"sentinel://:pw@s1;sentinel://:pw@s2", "sentinel://:**@s1;sentinel://:**@s2"},
	} {
		if got := maskURL(tc.in); got != tc.want {
			t.Errorf("maskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAddressed(t *testing.T) {
	w := &pidboxNode{hostname: "go1@host"}
	for _, tc := range []struct {
		name string
		body map[string]any
		want bool
	}{
		{"broadcast", map[string]any{"destination": nil}, true},
		{"listed", map[string]any{"destination": []any{"x@y", "go1@host"}}, true},
		{"not listed", map[string]any{"destination": []any{"x@y"}}, false},
		{"glob", map[string]any{"pattern": "go*@*", "matcher": "glob"}, true},
		{"glob miss", map[string]any{"pattern": "py*", "matcher": "glob"}, false},
		{"pcre", map[string]any{"pattern": "go\\d@", "matcher": "pcre"}, true},
	} {
		if got := w.addressed(tc.body); got != tc.want {
			t.Errorf("%s: addressed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPySet(t *testing.T) {
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{nil, "set()"},
		{[]string{"a"}, "{'a'}"},
		{[]string{"a", "b"}, "{'a', 'b'}"},
	} {
		if got := pySet(tc.ids); got != tc.want {
			t.Errorf("pySet(%v) = %q, want %q", tc.ids, got, tc.want)
		}
	}
}

// TestHelloMergesBothForms: mingle's hello carries the peer's revoked ids
// as a dict (Celery ≤ 5.6, the Go worker) or a list (Celery 5.7); both
// are merged.
func TestHelloMergesBothForms(t *testing.T) {
	w := New(nil, nil, NewServeMux(), WithHostname("go@h"))
	for _, rv := range []any{
		map[string]any{"a": []any{1.5, "a"}},
		[]any{"b", "c"},
	} {
		w.hello(map[string]any{"from_node": "py@h", "revoked": rv})
	}
	w.reg.mu.Lock()
	got := w.reg.revoked.list()
	w.reg.mu.Unlock()
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("revoked after hello = %v", got)
	}
	if r := w.hello(map[string]any{"from_node": "go@h"}); r != nil {
		t.Errorf("hello from self = %v, want nil", r)
	}
}
