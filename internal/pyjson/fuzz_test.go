package pyjson

import (
	"testing"
	"time"
)

// fuzzSeeds are interesting inputs shared by FuzzDecode and
// TestDecodeNeverPanics.
var fuzzSeeds = []string{
	`[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`,
	`{"a": [1, -2.5e+10, true, false, null, "x"], "b": {}}`,
	`[NaN, Infinity, -Infinity, 123456789012345678901234567890, -0, 0.1]`,
	`"\u00e9\ud83d\ude00\ud800\n\t\"\\\/"`,
	"\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
	`{"__type__": "datetime", "__value__": "2024-05-01T12:00:03.118000+00:00"}`,
	`{"__type__": "datetime", "__value__": "2024-W01-2T12:30:45,5-05:30"}`,
	`{"__type__": "date", "__value__": "2024-05-01"}`,
	`{"__type__": "time", "__value__": "12:00:03.5+01:00"}`,
	`{"__type__": "decimal", "__value__": "-1.50E+2"}`,
	`{"__type__": "decimal", "__value__": 3.14}`,
	`{"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}`,
	`{"__type__": "uuid", "__value__": {"int": 5}}`,
	`{"__type__": "bytes", "__value__": "hi"}`,
	`{"__type__": "base64", "__value__": "/wA="}`,
	`{"__type__": "nope", "__value__": 1}`,
	`{"__value__": "x", "__type__": "bytes", "__type__": "bytes"}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	` {"k" : [ 1 , { "n" : null } ] } `,
	`{"a":1}x`,
	`"\u12`,
	``,
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// survives Encode and a second Decode unchanged.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			return
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)) error: %v", data, err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = Decode(%q) error: %v", data, enc, err)
		}
		if !pyEqual(v, back) {
			t.Fatalf("Decode(%q) = %#v, but Decode(Encode(that)) = %#v", data, v, back)
		}
		enc2, err := Encode(back)
		if err != nil || string(enc2) != string(enc) {
			t.Fatalf("Encode is not stable: %q then %q (%v)", enc, enc2, err)
		}
		_ = PyRepr(v)
		_ = SafeRepr(v, 100, 3)
	})
}

// FuzzUnmarshal checks that Unmarshal never panics, whatever the input and
// whichever of a few typical targets it is decoded into.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"args": [1], "kwargs": {"a": 1}, "eta": "2024-05-01T12:00:03", "count": 2.0, "quoted": "3"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			tk   task
			list []any
			m    map[string]int
			arr  [2]Decimal
			tm   time.Time
		)
		for _, target := range []any{&tk, &list, &m, &arr, &tm} {
			_ = Unmarshal(data, target)
		}
	})
}
