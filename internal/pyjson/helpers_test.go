package pyjson

import (
	"bytes"
	"encoding/json"
	"math"
	"time"

	"github.com/google/uuid"
)

// pyEqual reports whether two decoded values denote the same Python value:
// NaN equals NaN, times are equal instants with equal UTC offsets, and
// TimeOfDay offsets are compared by value.
func pyEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case float64:
		bf, ok := b.(float64)
		if !ok {
			return false
		}
		if math.IsNaN(a) {
			return math.IsNaN(bf)
		}
		return a == bf && math.Signbit(a) == math.Signbit(bf)
	case time.Time:
		bt, ok := b.(time.Time)
		if !ok {
			return false
		}
		_, ao := a.Zone()
		_, bo := bt.Zone()
		return a.Equal(bt) && ao == bo
	case TimeOfDay:
		bt, ok := b.(TimeOfDay)
		if !ok || (a.Offset == nil) != (bt.Offset == nil) || (a.Offset != nil && *a.Offset != *bt.Offset) {
			return false
		}
		a.Offset, bt.Offset = nil, nil
		return a == bt
	case []byte:
		bb, ok := b.([]byte)
		return ok && bytes.Equal(a, bb) && (a == nil) == (bb == nil)
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) || (a == nil) != (bl == nil) {
			return false
		}
		for i := range a {
			if !pyEqual(a[i], bl[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) || (a == nil) != (bm == nil) {
			return false
		}
		for k, v := range a {
			w, ok := bm[k]
			if !ok || !pyEqual(v, w) {
				return false
			}
		}
		return true
	case bool, string, json.Number, Date, Decimal, uuid.UUID:
		return a == b
	}
	return false
}
