package worker

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
)

func call(t *testing.T, h Handler, args []any, kwargs map[string]any) (any, error) {
	t.Helper()
	task := &Task{Message: &celery.Message{Task: "tasks.x", ID: "1", Args: args, Kwargs: kwargs}}
	return h.ProcessTask(context.Background(), task)
}

func n(s string) json.Number { return json.Number(s) }

func TestFuncBinding(t *testing.T) {
	add := Func(func(ctx context.Context, x, y int) (int, error) { return x + y, nil }, "x", "y")
	for _, tc := range []struct {
		name    string
		args    []any
		kwargs  map[string]any
		want    any
		wantErr string
	}{
		{name: "positional", args: []any{n("2"), n("3")}, want: 5},
		{name: "kwargs", kwargs: map[string]any{"y": n("3"), "x": n("1")}, want: 4},
		{name: "mixed", args: []any{n("1")}, kwargs: map[string]any{"y": n("1")}, want: 2},
		{name: "integral float", args: []any{n("2.0"), n("3")}, want: 5},
		{name: "too many", args: []any{n("1"), n("2"), n("3")}, wantErr: "takes 2 positional arguments but 3 were given"},
		{name: "missing", args: []any{n("1")}, wantErr: "missing required positional argument: 'y'"},
		{name: "unexpected kwarg", args: []any{n("1"), n("2")}, kwargs: map[string]any{"z": n("1")}, wantErr: "unexpected keyword argument 'z'"},
		{name: "duplicate", args: []any{n("1"), n("2")}, kwargs: map[string]any{"x": n("1")}, wantErr: "multiple values for argument 'x'"},
		{name: "wrong type", args: []any{"a", n("2")}, wantErr: "argument 1"},
		{name: "fraction", args: []any{n("1.5"), n("2")}, wantErr: "argument 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := call(t, add, tc.args, tc.kwargs)
			if tc.wantErr != "" {
				var pe *PyError
				if !errors.As(err, &pe) || pe.Type != "TypeError" || !strings.Contains(pe.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want TypeError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestFuncShapes(t *testing.T) {
	type point struct{ X, Y int }
	var seen *Task
	h := Func(func(ctx context.Context, task *Task, p point, tags ...string) string {
		seen = task
		return strings.Join(tags, "+")
	}, "p")
	got, err := call(t, h, []any{map[string]any{"X": n("1"), "Y": n("2")}, "a", "b"}, nil)
	if err != nil || got != "a+b" || seen == nil {
		t.Fatalf("variadic: %v, %v", got, err)
	}
	onlyErr := Func(func(s string) error { return errors.New(s) })
	if _, err := call(t, onlyErr, []any{"boom"}, nil); err == nil || err.Error() != "boom" {
		t.Errorf("error-only: %v", err)
	}
	nothing := Func(func() {})
	if v, err := call(t, nothing, nil, nil); v != nil || err != nil {
		t.Errorf("no results: %v, %v", v, err)
	}
	anyArg := Func(func(v any, when time.Time) (any, error) { return v, nil })
	if v, err := call(t, anyArg, []any{[]any{n("1")}, "2024-05-01T00:00:00Z"}, nil); err != nil || v == nil {
		t.Errorf("any/time: %v, %v", v, err)
	}
	for _, bad := range []any{42, func() (int, int) { return 0, 0 }, func() (int, error, error) { return 0, nil, nil }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Func(%T) did not panic", bad)
				}
			}()
			Func(bad)
		}()
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{{"10/s", 10}, {"120/m", 2}, {"3600/h", 1}, {"2.5", 2.5}, {"0", 0}} {
		got, err := parseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"x", "1/d", "-1/s", ""} {
		if _, err := parseRate(bad); err == nil {
			t.Errorf("parseRate(%q) succeeded", bad)
		}
	}
	l, _ := newLimiter("2/s")
	now := time.Now()
	a, b, c := l.reserve(now), l.reserve(now), l.reserve(now)
	if !a.Equal(now) || b.Sub(a) != 500*time.Millisecond || c.Sub(b) != 500*time.Millisecond {
		t.Errorf("reserve spacing: %v %v %v", a, b, c)
	}
}

func TestRevokedSet(t *testing.T) {
	s := newRevokedSet(2, time.Hour)
	now := time.Now()
	s.add("a", now)
	s.add("b", now)
	s.add("c", now)
	if s.has("a") || !s.has("b") || !s.has("c") {
		t.Errorf("size bound: %v", s.list())
	}
	s.add("d", now.Add(2*time.Hour))
	if s.has("b") || s.has("c") || !s.has("d") {
		t.Errorf("expiry: %v", s.list())
	}
}

func TestServeMuxPanics(t *testing.T) {
	mux := NewServeMux()
	h := HandlerFunc(func(context.Context, *Task) (any, error) { return nil, nil })
	mux.Handle("a", h)
	for name, f := range map[string]func(){
		"empty":     func() { mux.Handle("", h) },
		"nil":       func() { mux.Handle("b", nil) },
		"duplicate": func() { mux.Handle("a", h) },
		"bad rate":  func() { mux.Handle("c", h, RateLimit("fast")) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	if err := mux.SetRateLimit("nope", "1/s"); err == nil {
		t.Error("SetRateLimit(unknown) succeeded")
	}
	if err := mux.SetRateLimit("a", "1/s"); err != nil {
		t.Error(err)
	}
}
