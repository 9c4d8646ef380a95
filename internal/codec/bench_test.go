package codec

import (
	"encoding/json"
	"testing"
)

// benchBody is a typical protocol-2 task body: [args, kwargs, embed].
func benchBody() any {
	return []any{
		[]any{json.Number("42"), "user@example.com", 3.25, true, nil},
		map[string]any{"items": []any{json.Number("1"), json.Number("2"), json.Number("3")}, "note": "héllo", "opts": map[string]any{"retry": true, "ttl": json.Number("3600")}},
		map[string]any{"callbacks": nil, "errbacks": nil, "chain": nil, "chord": nil},
	}
}

// BenchmarkEncode and BenchmarkDecode compare the serializers on the same
// task body (make bench).
func BenchmarkEncode(b *testing.B) {
	v := benchBody()
	for _, ct := range []string{JSON, Msgpack, YAML} {
		b.Run(ct[len("application/"):], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(ct, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	v := benchBody()
	for _, ct := range []string{JSON, Msgpack, YAML} {
		raw, err := Encode(ct, v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(ct[len("application/"):], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := Decode(ct, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
