package worker

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/celeriac/celeriac/celery"
)

func TestRevokedStampsMatch(t *testing.T) {
	var s revokedStamps
	s.add("batch", []any{"b1", json.Number("7")})
	for _, tc := range []struct {
		name    string
		headers []string
		stamps  map[string]any
		want    bool
	}{
		{"value", []string{"batch"}, map[string]any{"batch": "b1"}, true},
		{"number", []string{"batch"}, map[string]any{"batch": 7.0}, true},
		{"list", []string{"batch"}, map[string]any{"batch": []any{"x", "b1"}}, true},
		{"other value", []string{"batch"}, map[string]any{"batch": "b2"}, false},
		{"not in stamped_headers", nil, map[string]any{"batch": "b1"}, false},
		{"null", []string{"batch"}, map[string]any{"batch": nil}, false},
		{"other header", []string{"x"}, map[string]any{"x": "b1"}, false},
	} {
		_, _, got := s.match(&celery.Message{StampedHeaders: tc.headers, Stamps: tc.stamps})
		if got != tc.want {
			t.Errorf("%s: match = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRevokeByStampedHeadersArgs(t *testing.T) {
	w := &Worker{}
	w.o.logger = slog.New(slog.DiscardHandler)
	if _, err := w.revokeByStampedHeaders(map[string]any{"headers": []any{"a=1", "b=x"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := w.stamps.match(&celery.Message{StampedHeaders: []string{"a"}, Stamps: map[string]any{"a": "1"}}); !ok {
		t.Error(`a list of "k=v" headers is not flagged`)
	}
	if _, err := w.revokeByStampedHeaders(map[string]any{"headers": 3}); err == nil {
		t.Error("headers of the wrong type accepted")
	}
	if _, err := w.revokeByStampedHeaders(map[string]any{"headers": map[string]any{"a": "2"}, "terminate": true, "signal": "BOGUS"}); err == nil {
		t.Error("an unknown signal accepted")
	}
}
