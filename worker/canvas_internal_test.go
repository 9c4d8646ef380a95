package worker

import (
	"encoding/json"
	"testing"
)

func TestOptIndex(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want int
		ok   bool
	}{
		{json.Number("3"), 3, true},
		{float64(2), 2, true},
		{7, 7, true},
		{json.Number("1.5"), 0, false},
		{nil, 0, false},
		{"1", 0, false},
	} {
		got := optIndex(tc.in)
		if (got != nil) != tc.ok || (got != nil && *got != tc.want) {
			t.Errorf("optIndex(%#v) = %v, want %d/%v", tc.in, got, tc.want, tc.ok)
		}
	}
}
