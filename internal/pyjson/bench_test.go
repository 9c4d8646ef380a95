package pyjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// typicalBody is the body of a Celery task message for add(2, 2).
const typicalBody = `[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`

// nestedBody builds a ~10 KB message body with nested args, kwargs and the
// kombu markers a real task might carry.
func nestedBody(tb testing.TB) []byte {
	tb.Helper()
	items := make([]any, 0, 40)
	for i := range 40 {
		items = append(items, map[string]any{
			"id":      uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint(i))),
			"name":    fmt.Sprintf("item-%03d caf\u00e9", i),
			"price":   Decimal(fmt.Sprintf("%d.99", i)),
			"created": time.Date(2024, 5, 1, 12, 0, i, i*1000, time.UTC),
			"tags":    []any{"a", "b", i, float64(i) / 4, nil, true},
			"dims":    map[string]any{"w": i, "h": i * 2, "ratio": 0.5},
		})
	}
	v := []any{
		[]any{items, "report", 123456789012345678},
		map[string]any{"notify": true, "retries": 3},
		map[string]any{"callbacks": nil, "errbacks": nil, "chain": nil, "chord": nil},
	}
	b, err := Encode(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func benchInputs(b *testing.B) []struct {
	name string
	data []byte
} {
	return []struct {
		name string
		data []byte
	}{
		{"typical", []byte(typicalBody)},
		{"nested10KB", nestedBody(b)},
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				if _, err := Decode(in.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, in := range benchInputs(b) {
		v, err := Decode(in.data)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.data)))
			buf := make([]byte, 0, len(in.data)*2)
			for b.Loop() {
				var err error
				if buf, err = AppendEncode(buf[:0], v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(in.name+"/alloc", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				if _, err := Encode(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				var body []any
				if err := Unmarshal(in.data, &body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("typical/struct", func(b *testing.B) {
		type embed struct {
			Callbacks []any `json:"callbacks"`
			Errbacks  []any `json:"errbacks"`
			Chain     []any `json:"chain"`
			Chord     any   `json:"chord"`
		}
		data := []byte(typicalBody)
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var body struct {
				Args   []int
				Kwargs map[string]any
				Embed  embed
			}
			var parts [3]json.RawMessage
			if err := Unmarshal(data, &parts); err != nil {
				b.Fatal(err)
			}
			if err := Unmarshal(parts[0], &body.Args); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPyRepr(b *testing.B) {
	v, err := Decode(nestedBody(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("SafeRepr1024", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = SafeRepr(v, ReprMaxSize, ReprMaxLevels)
		}
	})
}

// BenchmarkStdlib gives encoding/json's numbers on the same inputs, for
// comparison only (it cannot read NaN or markers).
func BenchmarkStdlib(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run("Unmarshal/"+in.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				d := json.NewDecoder(bytes.NewReader(in.data))
				d.UseNumber()
				var v any
				if err := d.Decode(&v); err != nil {
					b.Fatal(err)
				}
			}
		})
		var v any
		d := json.NewDecoder(bytes.NewReader(in.data))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			b.Fatal(err)
		}
		b.Run("Marshal/"+in.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				if _, err := json.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
