package worker

import "github.com/celeriac/celeriac/internal/pyjson"

// ReprOf exposes Python-style repr to the external tests.
func ReprOf(v any) string { return pyjson.PyRepr(v) }
