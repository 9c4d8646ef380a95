package pyjson

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

type task struct {
	Args    []any          `json:"args"`
	Kwargs  map[string]any `json:"kwargs"`
	ETA     *time.Time     `json:"eta"`
	ID      uuid.UUID      `json:"id"`
	Amount  Decimal        `json:"amount"`
	Price   float64        `json:"price"`
	Count   int            `json:"count"`
	Data    []byte         `json:"data"`
	Text    string         `json:"text"`
	Day     Date           `json:"day"`
	At      TimeOfDay      `json:"at"`
	Retries *int           `json:"retries"`
	Quoted  int            `json:"quoted,string"`
	Addr    netip.Addr     `json:"addr"`
	Raw     json.RawMessage
	Embedded
}

// upper is a json.Unmarshaler that records what it was given.
type upper struct{ got string }

func (u *upper) UnmarshalJSON(b []byte) error {
	u.got = strings.ToUpper(string(b))
	return nil
}

func ptr[T any](v T) *T { return &v }

func TestUnmarshal(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, us int) time.Time {
		return time.Date(y, mo, d, h, mi, s, us*1000, time.UTC)
	}
	id := uuid.MustParse("12345678-1234-5678-1234-567812345678")
	const idMarker = `{"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}`
	tests := []struct {
		name   string
		json   string
		target func() any // returns a pointer to a fresh target
		want   any        // what the pointer should point to
	}{
		{"any", `[[2, 2], {}, {"chord": null}]`, func() any { return new(any) },
			[]any{[]any{json.Number("2"), json.Number("2")}, map[string]any{}, map[string]any{"chord": nil}}},
		{"[]any", `[1, NaN]`, func() any { return new([]any) }, []any{json.Number("1"), math.NaN()}},
		{"map[string]any", `{"a": {"__type__": "bytes", "__value__": "x"}}`, func() any { return new(map[string]any) },
			map[string]any{"a": []byte("x")}},
		{"datetime marker", `{"__type__": "datetime", "__value__": "2024-05-01T12:00:03.118000+00:00"}`,
			func() any { return new(time.Time) }, utc(2024, 5, 1, 12, 0, 3, 118000)},
		{"naive ISO string", `"2024-05-01T12:00:03"`, func() any { return new(time.Time) }, utc(2024, 5, 1, 12, 0, 3, 0)},
		{"RFC 3339 string", `"2024-05-01T12:00:03.5Z"`, func() any { return new(time.Time) }, utc(2024, 5, 1, 12, 0, 3, 500000)},
		{"uuid marker", idMarker, func() any { return new(uuid.UUID) }, id},
		{"uuid marker to string", idMarker, func() any { return new(string) }, id.String()},
		{"uuid string", `"12345678-1234-5678-1234-567812345678"`, func() any { return new(uuid.UUID) }, id},
		{"decimal to Decimal", `{"__type__": "decimal", "__value__": "3.14"}`, func() any { return new(Decimal) }, Decimal("3.14")},
		{"decimal to string", `{"__type__": "decimal", "__value__": "3.14"}`, func() any { return new(string) }, "3.14"},
		{"decimal to float", `{"__type__": "decimal", "__value__": "3.14"}`, func() any { return new(float64) }, 3.14},
		{"decimal NaN to float", `{"__type__": "decimal", "__value__": "NaN"}`, func() any { return new(float64) }, math.NaN()},
		{"integral decimal to int", `{"__type__": "decimal", "__value__": "1.20E+2"}`, func() any { return new(int) }, 120},
		{"number to Decimal", `2.50`, func() any { return new(Decimal) }, Decimal("2.5")},
		{"integer to Decimal", `250`, func() any { return new(Decimal) }, Decimal("250")},
		{"string to Decimal", `"2.50"`, func() any { return new(Decimal) }, Decimal("2.50")},
		{"bytes to []byte", `{"__type__": "bytes", "__value__": "hi"}`, func() any { return new([]byte) }, []byte("hi")},
		{"bytes to string", `{"__type__": "bytes", "__value__": "hi"}`, func() any { return new(string) }, "hi"},
		{"base64 to string", `{"__type__": "base64", "__value__": "aGk="}`, func() any { return new(string) }, "hi"},
		{"base64 string to []byte", `"aGk="`, func() any { return new([]byte) }, []byte("hi")},
		{"date", `{"__type__": "date", "__value__": "2024-05-01"}`, func() any { return new(Date) }, Date{2024, 5, 1}},
		{"date string", `"2024-05-01"`, func() any { return new(Date) }, Date{2024, 5, 1}},
		{"time", `{"__type__": "time", "__value__": "01:02:03"}`, func() any { return new(TimeOfDay) }, TimeOfDay{Hour: 1, Minute: 2, Second: 3}},
		{"2.0 to int", `2.0`, func() any { return new(int) }, 2},
		{"1e3 to int", `1e3`, func() any { return new(int) }, 1000},
		{"-0 to uint", `-0`, func() any { return new(uint) }, uint(0)},
		{"big to uint64", `18446744073709551615`, func() any { return new(uint64) }, uint64(math.MaxUint64)},
		{"1e400 to float64", `1e400`, func() any { return new(float64) }, math.Inf(1)},
		{"NaN to float32", `NaN`, func() any { return new(float32) }, float32(math.NaN())},
		{"-Infinity to float64", `-Infinity`, func() any { return new(float64) }, math.Inf(-1)},
		{"NaN to json.Number", `NaN`, func() any { return new(json.Number) }, json.Number("NaN")},
		{"null to pointer", `null`, func() any { p := ptr(ptr(3)); return p }, (*int)(nil)},
		{"null to int", `null`, func() any { return ptr(7) }, 7},
		{"map int keys", `{"1": "a", "-2": "b"}`, func() any { return new(map[int]string) }, map[int]string{1: "a", -2: "b"}},
		{"array", `[1, 2]`, func() any { return ptr([3]int{9, 9, 9}) }, [3]int{1, 2, 0}},
		{"unmarshaler gets wire form", `{"__type__": "decimal", "__value__": "1"}`, func() any { return new(upper) },
			upper{`{"__TYPE__": "DECIMAL", "__VALUE__": "1"}`}},
		{"text unmarshaler", `"::1"`, func() any { return new(netip.Addr) }, netip.MustParseAddr("::1")},
		{"struct", `{"args": [1, NaN], "kwargs": {"x": {"__type__": "date", "__value__": "2024-05-01"}},
			"eta": {"__type__": "datetime", "__value__": "2024-05-01T12:00:03"}, "id": ` + idMarker + `,
			"amount": {"__type__": "decimal", "__value__": "1.5"}, "price": {"__type__": "decimal", "__value__": "2.25"},
			"count": 3.0, "data": {"__type__": "base64", "__value__": "/w=="}, "text": {"__type__": "bytes", "__value__": "t"},
			"day": {"__type__": "date", "__value__": "2024-05-02"}, "at": {"__type__": "time", "__value__": "10:00"},
			"retries": null, "quoted": "7", "addr": "10.0.0.1", "Raw": {"a": NaN}, "E": "e", "INNER": 4, "unknown": 1}`,
			func() any { return &task{Retries: ptr(1)} },
			task{
				Args: []any{json.Number("1"), math.NaN()}, Kwargs: map[string]any{"x": Date{2024, 5, 1}},
				ETA: ptr(utc(2024, 5, 1, 12, 0, 3, 0)), ID: id, Amount: "1.5", Price: 2.25, Count: 3,
				Data: []byte{0xff}, Text: "t", Day: Date{2024, 5, 2}, At: TimeOfDay{Hour: 10}, Quoted: 7,
				Addr: netip.MustParseAddr("10.0.0.1"), Raw: json.RawMessage(`{"a": NaN}`), Embedded: Embedded{E: "e", Inner: 4},
			}},
		{"plain struct (fast path)", `{"args": [1, "x"], "kwargs": {}, "count": 2, "text": "s", "eta": "2024-05-01T12:00:03Z"}`,
			func() any { return new(task) },
			task{Args: []any{json.Number("1"), "x"}, Kwargs: map[string]any{}, Count: 2, Text: "s", ETA: ptr(utc(2024, 5, 1, 12, 0, 3, 0))}},
	}
	opts := cmp.Options{
		cmp.Comparer(func(a, b float64) bool { return pyEqual(a, b) }),
		cmp.Comparer(func(a, b float32) bool { return pyEqual(float64(a), float64(b)) }),
		cmp.Comparer(func(a, b time.Time) bool { return pyEqual(a, b) }),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.AllowUnexported(upper{}),
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target()
			if err := Unmarshal([]byte(tc.json), target); err != nil {
				t.Fatalf("Unmarshal(%s, %T) error: %v", tc.json, target, err)
			}
			got := reflect.ValueOf(target).Elem().Interface()
			if diff := cmp.Diff(tc.want, got, opts); diff != "" {
				t.Fatalf("Unmarshal(%s, %T) mismatch (-want +got):\n%s", tc.json, target, diff)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		target  any
		target2 error  // errors.Is target, if any
		substr  string // expected in the message
	}{
		{"not a pointer", `1`, 1, nil, "non-nil pointer"},
		{"nil", `1`, nil, nil, "non-nil pointer, got nil"},
		{"nil pointer", `1`, (*int)(nil), nil, "non-nil pointer"},
		{"syntax", `[1,`, new(any), nil, "syntax error"},
		{"trailing data", `1 2`, new(int), nil, "extra data"},
		{"trailing data struct", `{} {}`, new(task), nil, "extra data"},
		{"unknown marker", `{"__type__": "x", "__value__": 1}`, new(any), ErrUnknownMarker, ""},
		{"bad marker", `{"__type__": "date", "__value__": 1}`, new(Date), ErrBadMarker, ""},
		{"fraction into int", `2.5`, new(int), nil, "not an integer"},
		{"overflow int8", `128`, new(int8), nil, "out of range"},
		{"huge into int", `1e400`, new(int64), nil, "out of range"},
		{"negative into uint", `-1`, new(uint), nil, "out of range"},
		{"NaN into int", `NaN`, new(int), nil, "not a finite number"},
		{"overflow float32", `1e39`, new(float32), nil, "out of range"},
		{"string into int", `"1"`, new(int), nil, "cannot unmarshal a string into Go value of type int"},
		{"number into string", `1`, new(string), nil, "the number 1"},
		{"datetime into int", `{"__type__": "datetime", "__value__": "2024-05-01"}`, new(int), nil, "a datetime"},
		{"bad time string", `"yesterday"`, new(time.Time), nil, "ISO 8601"},
		{"bad base64", `"!!"`, new([]byte), nil, "base64"},
		{"sNaN into float", `{"__type__": "decimal", "__value__": "sNaN"}`, new(float64), nil, "signaling"},
		{"path", `{"args": [1, {"__type__": "bytes", "__value__": "x"}]}`, new(struct{ Args []int }), nil, "at .args[1]"},
		{"map key", `{"x": 1}`, new(map[int]int), nil, `the key "x"`},
		{"invalid UTF-8", "\"\xff\"", new(string), nil, "invalid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Unmarshal([]byte(tc.json), tc.target)
			if err == nil {
				t.Fatalf("Unmarshal(%s, %T) succeeded, want an error", tc.json, tc.target)
			}
			if !strings.HasPrefix(err.Error(), "pyjson: ") {
				t.Errorf("Unmarshal(%s, %T) error %q lacks the pyjson: prefix", tc.json, tc.target, err)
			}
			if tc.target2 != nil && !errors.Is(err, tc.target2) {
				t.Errorf("Unmarshal(%s, %T) error = %v, want %v", tc.json, tc.target, err, tc.target2)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("Unmarshal(%s, %T) error = %q, want it to mention %q", tc.json, tc.target, err, tc.substr)
			}
		})
	}
}

// TestUnmarshalFastPathAgrees checks that plain JSON gives the same result
// through encoding/json (the fast path) and through Decode plus assign.
func TestUnmarshalFastPathAgrees(t *testing.T) {
	inputs := []string{
		`{"args": [1, "x", [true, null]], "kwargs": {"a": {"b": 1.5}}, "count": 2, "text": "s", "retries": 3}`,
		`{"eta": "2024-05-01T12:00:03+05:30", "id": "12345678-1234-5678-1234-567812345678", "data": "aGk=", "E": "e", "inner": 1}`,
		`{"ARGS": [], "Kwargs": null, "price": 1e300, "addr": "::1", "Raw": [1, 2]}`,
	}
	for _, in := range inputs {
		t.Run(in, func(t *testing.T) {
			var fast, slow task
			if needsPythonDecoder([]byte(in)) {
				t.Fatalf("input %s unexpectedly needs the Python decoder", in)
			}
			if err := Unmarshal([]byte(in), &fast); err != nil {
				t.Fatalf("Unmarshal(%s) error: %v", in, err)
			}
			v, err := Decode([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if err := (&unmarshaler{}).assign(v, reflect.ValueOf(&slow).Elem()); err != nil {
				t.Fatalf("assign(%s) error: %v", in, err)
			}
			// RawMessage keeps the original text on the fast path and the
			// re-encoded text on the slow path; compare its meaning.
			fr, _ := Decode(fast.Raw)
			sr, _ := Decode(slow.Raw)
			if len(fast.Raw) > 0 && !pyEqual(fr, sr) {
				t.Fatalf("Raw differs: %s vs %s", fast.Raw, slow.Raw)
			}
			fast.Raw, slow.Raw = nil, nil
			if diff := cmp.Diff(fast, slow, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Fatalf("fast and slow paths differ for %s (-fast +slow):\n%s", in, diff)
			}
		})
	}
}

func TestNeedsPythonDecoder(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"a": 1}`, false},
		{`"caf\u00e9"`, false},
		{"\"caf\xc3\xa9\"", false},
		{`{"__type__": "x"}`, true},
		{`{"\u005f_type__": "x"}`, true},
		{`{"__typ\u0065__": "x"}`, true},
		{`{"\u005F_type__": "x"}`, true},
		{`[NaN]`, true},
		{`[-Infinity]`, true},
		{"\"\xff\"", true},
	} {
		if got := needsPythonDecoder([]byte(tc.in)); got != tc.want {
			t.Errorf("needsPythonDecoder(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
