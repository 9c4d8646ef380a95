// Package pyjson reads and writes JSON exactly the way Python's kombu
// (>= 5.3, including 5.7) does for Celery message bodies.
//
// Python's json module differs from strict JSON (RFC 8259) in a few ways
// that matter on the wire:
//
//   - NaN, Infinity and -Infinity are written and accepted as bare tokens.
//   - Integers have arbitrary size, so numbers are kept as json.Number text.
//   - Python strings may contain lone surrogates (\ud800); Go strings cannot,
//     so Decode replaces them with U+FFFD.
//
// On top of that, kombu wraps Python values that JSON cannot represent in a
// two-key "marker" object {"__type__": T, "__value__": V}. Decode turns every
// object whose key set is exactly {__type__, __value__} into a Go value, and
// Encode produces markers for the corresponding Go types:
//
//	T           Go type           __value__
//	datetime    time.Time         datetime.isoformat() text
//	date        Date              "YYYY-MM-DD"
//	time        TimeOfDay         time.isoformat() text
//	decimal     Decimal           str(Decimal) text
//	uuid        uuid.UUID         {"hex": "<32 hex digits>"}
//	bytes       []byte            the bytes as UTF-8 text
//	base64      []byte            standard base64 of the bytes
//
// An unknown T is an error, as it is in kombu.
//
// Encode writes the same bytes that kombu's dumps writes for the equivalent
// Python value (json.dumps defaults: ", " and ": " separators, non-ASCII
// escaped as \uXXXX), with map keys sorted because Go maps are unordered.
//
// Unmarshal decodes into typed Go values (structs, ints, time.Time, ...),
// understanding the markers.
//
// PyRepr formats a decoded value like Python's repr(), and SafeRepr,
// ArgsRepr and KwargsRepr reproduce celery.utils.saferepr.saferepr, which
// Celery uses for the argsrepr/kwargsrepr message headers and for the result
// field of task events.
//
// All functions are safe for concurrent use; the package has no global
// mutable state. Decode never panics and limits nesting to MaxDepth.
package pyjson
