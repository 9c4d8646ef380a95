package pyjson

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestDecodeValues(t *testing.T) {
	ist := time.FixedZone("", 5*3600+30*60)
	tests := []struct {
		in   string
		want any
	}{
		{`null`, nil},
		{`true`, true},
		{`-0`, json.Number("-0")},
		{`123456789012345678901234567890`, json.Number("123456789012345678901234567890")},
		{`-1.5e-300`, json.Number("-1.5e-300")},
		{`NaN`, math.NaN()},
		{`Infinity`, math.Inf(1)},
		{`-Infinity`, math.Inf(-1)},
		{`"\u00e9\ud83d\ude00\n"`, "é😀\n"},
		{`"\ud800"`, "\uFFFD"},
		{`"\u0000"`, "\x00"},
		{`[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`, []any{
			[]any{json.Number("2"), json.Number("2")},
			map[string]any{},
			map[string]any{"callbacks": nil, "errbacks": nil, "chain": nil, "chord": nil},
		}},
		{`{"a": 1, "a": 2}`, map[string]any{"a": json.Number("2")}},
		{`[NaN, {"x": [Infinity]}]`, []any{math.NaN(), map[string]any{"x": []any{math.Inf(1)}}}},
		{`{"__type__": "datetime", "__value__": "2024-05-01T12:00:03.118000+00:00"}`,
			time.Date(2024, 5, 1, 12, 0, 3, 118000000, time.UTC)},
		{`{"__type__": "datetime", "__value__": "2024-05-01T12:00:03"}`,
			time.Date(2024, 5, 1, 12, 0, 3, 0, time.UTC)},
		{`{"__type__": "datetime", "__value__": "2024-05-01T12:00:03.1234567+05:30"}`,
			time.Date(2024, 5, 1, 12, 0, 3, 123456000, ist)},
		{`{"__type__": "date", "__value__": "2024-05-01"}`, Date{2024, time.May, 1}},
		{`{"__type__": "time", "__value__": "12:00:03.5+01:00"}`,
			TimeOfDay{Hour: 12, Second: 3, Nanosecond: 500000000, Offset: intPtr(3600)}},
		{`{"__type__": "time", "__value__": "23:59"}`, TimeOfDay{Hour: 23, Minute: 59}},
		{`{"__type__": "decimal", "__value__": "3.14"}`, Decimal("3.14")},
		{`{"__type__": "decimal", "__value__": "1e2"}`, Decimal("1E+2")},
		{`{"__type__": "decimal", "__value__": 0.5}`, Decimal("0.5")},
		{`{"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}`,
			uuid.MustParse("12345678-1234-5678-1234-567812345678")},
		{`{"__type__": "bytes", "__value__": "hi"}`, []byte("hi")},
		{`{"__type__": "bytes", "__value__": ""}`, []byte{}},
		{`{"__type__": "base64", "__value__": "/wA="}`, []byte{0xff, 0}},
		{`{"__type__": "base64", "__value__": "aGVsbG8"}`, nil}, // error, checked below
		{`[{"__type__": "date", "__value__": "2024-05-01"}, {"k": {"__type__": "decimal", "__value__": "1"}}]`,
			[]any{Date{2024, time.May, 1}, map[string]any{"k": Decimal("1")}}},
		{`{"__type__": "bytes", "__value__": "a", "x": 1}`,
			map[string]any{"__type__": "bytes", "__value__": "a", "x": json.Number("1")}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			if tc.want == nil && tc.in != "null" {
				if err == nil {
					t.Fatalf("Decode(%q) = %#v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q) error: %v", tc.in, err)
			}
			if !pyEqual(got, tc.want) {
				t.Fatalf("Decode(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestDecodeTimeLocation(t *testing.T) {
	for _, tc := range []struct {
		in     string
		offset int
		utc    bool
	}{
		{"2024-05-01T12:00:03+00:00", 0, true},
		{"2024-05-01T12:00:03Z", 0, true},
		{"2024-05-01T12:00:03", 0, true},
		{"2024-05-01T12:00:03-00:00", 0, true},
		{"2024-05-01T12:00:03-05:00", -5 * 3600, false},
		{"2024-05-01T12:00:03+05:30:15.5", 5*3600 + 30*60 + 15, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			in := `{"__type__": "datetime", "__value__": "` + tc.in + `"}`
			v, err := Decode([]byte(in))
			if err != nil {
				t.Fatalf("Decode(%q) error: %v", in, err)
			}
			tm := v.(time.Time)
			if _, off := tm.Zone(); off != tc.offset || (tm.Location() == time.UTC) != tc.utc {
				t.Fatalf("Decode(%q) = %v (location %v), want offset %d, UTC %v", in, tm, tm.Location(), tc.offset, tc.utc)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in     string
		target error // nil: any *SyntaxError
		offset int64 // for syntax errors
	}{
		{``, nil, 0},
		{`   `, nil, 3},
		{`[1, 2`, nil, 5},
		{`{"a": 1`, nil, 7},
		{`"abc`, nil, 0},
		{`[1,]`, nil, 3},
		{`{"a": 1,}`, nil, 8},
		{`{'a': 1}`, nil, 1},
		{`tru`, nil, 0},
		{`1 2`, nil, 2},
		{`[] x`, nil, 3},
		{`01`, nil, 1},
		{`1.`, nil, 2},
		{`-`, nil, 1},
		{`-NaN`, nil, 1},
		{`nan`, nil, 0},
		{"\"a\x01b\"", nil, 2},
		{"\"\xff\"", nil, 1},
		{"\"ok\\n\xc3\"", nil, 5},
		{"\xef\xbb\xbf1", nil, 0},
		{`"\x41"`, nil, 1},
		{`"\u12"`, nil, 1},
		{`{"__type__": "nope", "__value__": 1}`, ErrUnknownMarker, 0},
		{`{"__type__": 7, "__value__": 1}`, ErrUnknownMarker, 0},
		{`[[{"__type__": "", "__value__": 1}]]`, ErrUnknownMarker, 0},
		{`{"__type__": "datetime", "__value__": "2024-13-01"}`, ErrBadMarker, 0},
		{`{"__type__": "datetime", "__value__": 1}`, ErrBadMarker, 0},
		{`{"__type__": "date", "__value__": "soon"}`, ErrBadMarker, 0},
		{`{"__type__": "time", "__value__": "25:00"}`, ErrBadMarker, 0},
		{`{"__type__": "decimal", "__value__": "1.2.3"}`, ErrBadMarker, 0},
		{`{"__type__": "decimal", "__value__": null}`, ErrBadMarker, 0},
		{`{"__type__": "uuid", "__value__": {"hex": "xyz"}}`, ErrBadMarker, 0},
		{`{"__type__": "uuid", "__value__": "12345678123456781234567812345678"}`, ErrBadMarker, 0},
		{`{"__type__": "bytes", "__value__": [1]}`, ErrBadMarker, 0},
		{`{"__type__": "bytes", "__value__": "\udc00"}`, ErrBadMarker, 0},
		{`{"__type__": "base64", "__value__": "a"}`, ErrBadMarker, 0},
		{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), ErrTooDeep, 0},
		{strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), ErrTooDeep, 0},
		{strings.Repeat("[", 1_000_000), ErrTooDeep, 0},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			if err == nil {
				t.Fatalf("Decode(%q) = %v, want an error", tc.in, got)
			}
			if !strings.HasPrefix(err.Error(), "pyjson: ") {
				t.Errorf("Decode(%q) error %q lacks the pyjson: prefix", tc.in, err)
			}
			if tc.target != nil {
				if !errors.Is(err, tc.target) {
					t.Fatalf("Decode(%q) error = %v, want %v", tc.in, err, tc.target)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Decode(%q) error = %v (%T), want a *SyntaxError", tc.in, err, err)
			}
			if se.Offset != tc.offset {
				t.Errorf("Decode(%q) error offset = %d, want %d (%v)", tc.in, se.Offset, tc.offset, err)
			}
		})
	}
}

func TestDecodeDepthLimit(t *testing.T) {
	for _, tc := range []struct {
		name        string
		open, close string
		levels      int // nesting levels added by one open/close pair
		inner       string
	}{
		{"arrays", "[", "]", 1, ""},
		{"objects", `{"k": `, "}", 1, "1"},
		{"mixed", `[{"k": `, "}]", 2, "1"},
		{"uuid markers", "[", "]", 1, `{"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			innerLevels := strings.Count(tc.inner, "{")
			n := (MaxDepth - innerLevels) / tc.levels
			in := strings.Repeat(tc.open, n) + tc.inner + strings.Repeat(tc.close, n)
			v, err := Decode([]byte(in))
			if err != nil {
				t.Fatalf("Decode(%d levels) error: %v", MaxDepth, err)
			}
			enc, err := Encode(v)
			if err != nil {
				t.Fatalf("Encode(%d levels) error: %v", MaxDepth, err)
			}
			if _, err := Decode(enc); err != nil {
				t.Fatalf("Decode(Encode(%d levels)) error: %v", MaxDepth, err)
			}
			deeper := tc.open + in + tc.close
			if _, err := Decode([]byte(deeper)); !errors.Is(err, ErrTooDeep) {
				t.Fatalf("Decode(one level deeper) error = %v, want ErrTooDeep", err)
			}
		})
	}
}

func TestDecodeLargeStrings(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		json string
		want string
	}{
		{"ascii", `"` + strings.Repeat("a", mib) + `"`, strings.Repeat("a", mib)},
		{"utf8", `"` + strings.Repeat("é", mib/2) + `"`, strings.Repeat("é", mib/2)},
		{"escapes", `"` + strings.Repeat(`\n\u00e9\ud83d\ude00`, mib/20) + `"`, strings.Repeat("\né😀", mib/20)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.json))
			if err != nil {
				t.Fatalf("Decode(1 MiB %s string) error: %v", tc.name, err)
			}
			if got != tc.want {
				t.Fatalf("Decode(1 MiB %s string) returned a different string of length %d", tc.name, len(got.(string)))
			}
			enc, err := Encode(got)
			if err != nil {
				t.Fatalf("Encode(1 MiB %s string) error: %v", tc.name, err)
			}
			back, err := Decode(enc)
			if err != nil || back != tc.want {
				t.Fatalf("Decode(Encode(1 MiB %s string)) did not round-trip (err %v)", tc.name, err)
			}
		})
	}
}

func TestDecodeCopiesInput(t *testing.T) {
	in := []byte(`{"key": ["value", "\u00e9x"]}`)
	v, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	want := map[string]any{"key": []any{"value", "éx"}}
	if !pyEqual(v, want) {
		t.Fatalf("Decode result changed with its input: %#v, want %#v", v, want)
	}
}

// TestDecodeNeverPanics feeds truncations and byte substitutions of
// interesting inputs to Decode (and Encode on success). The fuzz target
// does the same with random inputs.
func TestDecodeNeverPanics(t *testing.T) {
	subst := []byte{0, '"', '\\', '[', ']', '{', '}', ',', ':', 'u', 'N', 'I', '-', '0', '9', 'e', '.', ' ', 0x80, 0xc3, 0xed, 0xff}
	for _, seed := range fuzzSeeds {
		for i := 0; i <= len(seed); i++ {
			_, _ = Decode([]byte(seed[:i]))
			if i == len(seed) {
				break
			}
			for _, c := range subst {
				b := []byte(seed)
				b[i] = c
				if v, err := Decode(b); err == nil {
					if _, err := Encode(v); err != nil {
						t.Fatalf("Encode(Decode(%q)) error: %v", b, err)
					}
				}
			}
		}
	}
}

func TestDecodeStrictLoneSurrogate(t *testing.T) {
	for _, in := range []string{`"\ud800"`, `["a\udc00b"]`, `{"k": "\ud83d\u0041"}`, `"\udfff\ud800"`, `{"\ud800": 1}`} {
		if v, err := Decode([]byte(in)); err != nil {
			t.Errorf("Decode(%s) = %v, want U+FFFD, no error", in, err)
		} else if _, err := DecodeStrict([]byte(in)); !errors.Is(err, ErrLoneSurrogate) {
			t.Errorf("DecodeStrict(%s) = %v (Decode: %#v), want ErrLoneSurrogate", in, err, v)
		}
	}
	v, err := DecodeStrict([]byte(`["\ud83d\ude00", "\u00e9"]`))
	if err != nil || !reflect.DeepEqual(v, []any{"😀", "é"}) {
		t.Errorf("DecodeStrict(pair) = %#v, %v", v, err)
	}
}
