package celery

import (
	"encoding/json"
	"testing"
)

// Trail gives the as_tuple entries a Python worker records in children.
func TestCanvasResultTrail(t *testing.T) {
	task := &AsyncResult{ID: "t"}
	group := &GroupResult{ID: "g", Results: []*AsyncResult{{ID: "a"}, {ID: "b"}}}
	for _, tc := range []struct {
		name string
		r    *CanvasResult
		want string
	}{
		{"nil", nil, "null"},
		{"task", &CanvasResult{AsyncResult: task}, `[["t",null],null]`},
		{"group", &CanvasResult{Group: group}, `[["g",null],[[["a",null],null],[["b",null],null]]]`},
		{"chain: its first step", &CanvasResult{AsyncResult: &AsyncResult{ID: "last"}, First: &CanvasResult{AsyncResult: task}}, `[["t",null],null]`},
		{"chord: its header", &CanvasResult{AsyncResult: &AsyncResult{ID: "body"}, Header: group}, `[["g",null],[[["a",null],null],[["b",null],null]]]`},
		{"nothing applied", &CanvasResult{}, "null"},
	} {
		b, err := json.Marshal(tc.r.Trail())
		if err != nil || string(b) != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.name, b, err, tc.want)
		}
	}
}
