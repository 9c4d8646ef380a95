package pyjson

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestPyRepr(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, "None"},
		{"nil pointer", (*int)(nil), "None"},
		{"bools", []any{true, false}, "[True, False]"},
		{"go ints", []any{5, int64(-3), uint8(7)}, "[5, -3, 7]"},
		{"float32", float32(0.1), "0.1"},
		{"floats", []any{2.0, 1e16, 1e-5, math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)},
			"[2.0, 1e+16, 1e-05, nan, inf, -inf, -0.0]"},
		{"numbers", []any{json.Number("1e400"), json.Number("-0"), json.Number("1.50"), json.Number("12345678901234567890123")},
			"[inf, 0, 1.5, 12345678901234567890123]"},
		{"quotes", []any{"it's", `a"b'c`, `say "hi"`, `\`}, `["it's", 'a"b\'c', 'say "hi"', '\\']`},
		{"escapes", "\x00\t\n\r\x1f\x7f\u0080\u00a0\u200b\u2028😀é", `'\x00\t\n\r\x1f\x7f\x80\xa0\u200b\u2028😀é'`},
		{"typed slices", []string{"a", "b"}, "['a', 'b']"},
		{"typed map", map[string]int{"b": 2, "a": 1}, "{'a': 1, 'b': 2}"},
		{"struct", point{X: 1, Y: 2}, "{'x': 1, 'y': 2}"},
		{"empty containers", []any{[]any{}, map[string]any{}}, "[[], {}]"},
		{"tuple", pyTuple{1}, "(1,)"},
		{"datetime utc", time.Date(2024, 5, 1, 12, 0, 3, 118000000, time.UTC),
			"datetime.datetime(2024, 5, 1, 12, 0, 3, 118000, tzinfo=datetime.timezone.utc)"},
		{"datetime minute", time.Date(2024, 5, 1, 12, 30, 0, 0, time.FixedZone("", 3600)),
			"datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(seconds=3600)))"},
		{"datetime negative offset", time.Date(2024, 5, 1, 0, 0, 1, 0, time.FixedZone("", -(5*3600+30*60))),
			"datetime.datetime(2024, 5, 1, 0, 0, 1, tzinfo=datetime.timezone(datetime.timedelta(days=-1, seconds=66600)))"},
		{"datetime microsecond only", time.Date(2024, 5, 1, 0, 0, 0, 1000, time.UTC),
			"datetime.datetime(2024, 5, 1, 0, 0, 0, 1, tzinfo=datetime.timezone.utc)"},
		{"date", Date{2024, time.May, 1}, "datetime.date(2024, 5, 1)"},
		{"time", TimeOfDay{Hour: 12}, "datetime.time(12, 0)"},
		{"time offset", TimeOfDay{Hour: 1, Minute: 2, Second: 3, Nanosecond: 4000, Offset: intPtr(0)},
			"datetime.time(1, 2, 3, 4, tzinfo=datetime.timezone.utc)"},
		{"decimal", []any{Decimal("3.14"), Decimal(" 1_000 "), Decimal("nan")}, "[Decimal('3.14'), Decimal('1000'), Decimal('NaN')]"},
		{"uuid", uuid.MustParse("12345678-1234-5678-1234-567812345678"), "UUID('12345678-1234-5678-1234-567812345678')"},
		{"bytes", []any{[]byte("it's"), []byte{0, 0xff, '\\', '\n'}, []byte(`"'`)}, `[b"it's", b'\x00\xff\\\n', b'"\'']`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PyRepr(tc.in); got != tc.want {
				t.Errorf("PyRepr(%#v) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestPyReprUnsupported(t *testing.T) {
	// Values Encode rejects fall back to Go formatting instead of failing.
	if got := PyRepr(complex(1, 2)); got != "(1+2i)" {
		t.Errorf("PyRepr(complex(1, 2)) = %s, want (1+2i)", got)
	}
}

func TestReprCycles(t *testing.T) {
	m := map[string]any{}
	m["a"], m["b"] = m, []any{m}
	l := []any{1, nil}
	l[1] = l
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"PyRepr map", PyRepr(m), "{'a': {...}, 'b': [{...}]}"},
		{"PyRepr list", PyRepr(l), "[1, [...]]"},
		{"SafeRepr map", SafeRepr(m, 0, 0), "{'a': {...}, 'b': [{...}]}"},
		{"SafeRepr list", SafeRepr(l, 100, 0), "[1, [...]]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("%s of a cyclic value = %s, want %s", tc.name, tc.got, tc.want)
			}
		})
	}
}

func TestArgsKwargsRepr(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"no args", ArgsRepr(nil), "()"},
		{"one arg", ArgsRepr([]any{1}), "(1,)"},
		{"two args", ArgsRepr([]any{2, 2}), "(2, 2)"},
		{"quote", ArgsRepr([]any{"it's"}), `('it\'s',)`},
		{"deep", ArgsRepr([]any{[]any{[]any{[]any{1}}}}), "([[[...]]],)"},
		{"long", ArgsRepr([]any{strings.Repeat("x", 2000)}), "('" + strings.Repeat("x", 1023) + "...',)"},
		{"no kwargs", KwargsRepr(nil), "{}"},
		{"kwargs", KwargsRepr(map[string]any{"y": []int{1}, "x": 1}), "{'x': 1, 'y': [1]}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("%s = %s, want %s", tc.name, tc.got, tc.want)
			}
		})
	}
}

func TestTypeName(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, "NoneType"}, {true, "bool"}, {json.Number("3"), "int"}, {json.Number("-3.5"), "float"},
		{json.Number("1e3"), "float"}, {2.5, "float"}, {"s", "str"}, {[]any{}, "list"},
		{map[string]any{}, "dict"}, {time.Time{}, "datetime"}, {Decimal("1"), "Decimal"}, {[]byte("x"), "bytes"},
	} {
		if got := TypeName(tc.v); got != tc.want {
			t.Errorf("TypeName(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
