package pyjson

import (
	"encoding/json"
	"math"
	"regexp"
	"testing"
)

// naiveDateTime matches Python's repr of a naive datetime.
var naiveDateTime = regexp.MustCompile(`datetime\.datetime\(([0-9, ]+)\)`)

// loneSurrogate matches Python's repr of a lone UTF-16 surrogate.
var loneSurrogate = regexp.MustCompile(`\\ud[89a-f][0-9a-f]{2}`)

// adjustRepr adjusts a Python repr for this package's two documented
// deviations: naive datetimes decode as UTC, and lone surrogates (which Go
// strings cannot hold) as U+FFFD.
func adjustRepr(s string) string {
	s = naiveDateTime.ReplaceAllString(s, "datetime.datetime($1, tzinfo=datetime.timezone.utc)")
	return loneSurrogate.ReplaceAllString(s, "\uFFFD")
}

func intPtr(i int) *int { return &i }

func TestDecodeGolden(t *testing.T) {
	for _, tc := range decodeGolden {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			if tc.err {
				if err == nil {
					t.Fatalf("Decode(%q) = %s, want an error (kombu raises)", tc.in, PyRepr(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q) error: %v, want %s", tc.in, err, tc.repr)
			}
			want := adjustRepr(tc.repr)
			if r := PyRepr(got); r != want {
				t.Fatalf("PyRepr(Decode(%q)) = %s, want %s", tc.in, r, want)
			}
			// What Encode makes of it must decode to the same Python value.
			enc, err := Encode(got)
			if err != nil {
				t.Fatalf("Encode(Decode(%q)) error: %v", tc.in, err)
			}
			again, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode(%q) error: %v", enc, err)
			}
			if r := PyRepr(again); r != want {
				t.Fatalf("PyRepr(Decode(%q)) = %s, want %s", enc, r, want)
			}
		})
	}
}

func TestEncodeGolden(t *testing.T) {
	for _, tc := range encodeGolden {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.in)
			if err != nil {
				t.Fatalf("Encode(%s) error: %v", tc.name, err)
			}
			if string(got) != tc.want {
				t.Fatalf("Encode(%s) = %s, want %s", tc.name, got, tc.want)
			}
			// AppendEncode appends to what is there.
			got, err = AppendEncode([]byte("x"), tc.in)
			if err != nil || string(got) != "x"+tc.want {
				t.Fatalf("AppendEncode(x, %s) = %s, %v, want x%s", tc.name, got, err, tc.want)
			}
		})
	}
}

func TestFloatGolden(t *testing.T) {
	for _, tc := range floatGolden {
		f := math.Float64frombits(tc.bits)
		t.Run(tc.repr, func(t *testing.T) {
			if got := PyRepr(f); got != tc.repr {
				t.Errorf("PyRepr(%v) = %s, want %s", f, got, tc.repr)
			}
			got, err := Encode(f)
			if err != nil || string(got) != tc.repr {
				t.Errorf("Encode(%v) = %s, %v, want %s", f, got, err, tc.repr)
			}
			back, err := Decode(got)
			if err != nil {
				t.Fatalf("Decode(%s) error: %v", got, err)
			}
			if g, err := back.(json.Number).Float64(); err != nil || math.Float64bits(g) != tc.bits {
				t.Errorf("Decode(%s) = %v, want %v", got, back, f)
			}
		})
	}
}

func TestSafeReprGolden(t *testing.T) {
	for _, tc := range safeReprGolden {
		name := tc.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			v, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode(%q) error: %v", tc.in, err)
			}
			want := adjustRepr(tc.want)
			if got := SafeRepr(v, tc.maxlen, tc.maxlevels); got != want {
				t.Errorf("SafeRepr(%q, %d, %d) =\n%s\nwant\n%s", tc.in, tc.maxlen, tc.maxlevels, got, want)
			}
		})
	}
}

func TestArgsReprGolden(t *testing.T) {
	for _, tc := range argsReprGolden {
		t.Run(tc.in, func(t *testing.T) {
			v, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode(%q) error: %v", tc.in, err)
			}
			if got := ArgsRepr(v.([]any)); got != tc.want {
				t.Errorf("ArgsRepr(%s) =\n%s\nwant\n%s", tc.in, got, tc.want)
			}
		})
	}
}

func TestKwargsReprGolden(t *testing.T) {
	for _, tc := range kwargsReprGolden {
		t.Run(tc.in, func(t *testing.T) {
			v, err := Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode(%q) error: %v", tc.in, err)
			}
			if got := KwargsRepr(v.(map[string]any)); got != tc.want {
				t.Errorf("KwargsRepr(%s) =\n%s\nwant\n%s", tc.in, got, tc.want)
			}
		})
	}
}

func TestTruncateGolden(t *testing.T) {
	for _, tc := range truncateGolden {
		t.Run(tc.want, func(t *testing.T) {
			if got := Truncate(tc.s, tc.n); got != tc.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
			}
		})
	}
}
