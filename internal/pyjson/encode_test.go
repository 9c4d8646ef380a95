package pyjson

//lint:file-ignore SA5008 odd and malformed struct tags on purpose: the encoder must read them as encoding/json does

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

type point struct {
	X int `json:"x"`
	Y int `json:"y,omitempty"`
}

type Embedded struct {
	E     string
	Inner int `json:"inner"`
}

type embeddedPtr struct {
	P string
}

type sample struct {
	Name    string     `json:"name"`
	Skip    string     `json:"-"`
	Dash    string     `json:"-,"`
	Empty   string     `json:"empty,omitempty"`
	Zero    time.Time  `json:"zero,omitzero"`
	Quoted  int        `json:"quoted,string"`
	When    time.Time  `json:"when"`
	ID      uuid.UUID  `json:"id"`
	Ptr     *point     `json:"ptr"`
	NilPtr  *point     `json:"nil_ptr"`
	Amount  Decimal    `json:"amount"`
	Payload []byte     `json:"payload"`
	Any     any        `json:"any"`
	Addr    netip.Addr `json:"addr"`
	Embedded
	*embeddedPtr
	private int
}

type rawer struct{ out string }

func (r rawer) MarshalJSON() ([]byte, error) {
	if r.out == "fail" {
		return nil, errors.New("boom")
	}
	return []byte(r.out), nil
}

type ptrMarshaler struct{ n int }

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprint(p.n * 10)), nil }

type status string
type blob []byte

func TestEncodeValues(t *testing.T) {
	when := time.Date(2024, 5, 1, 12, 0, 3, 118000000, time.UTC)
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"struct", sample{
			Name: "n", Skip: "s", Dash: "d", Quoted: 5, When: when,
			ID:  uuid.MustParse("12345678-1234-5678-1234-567812345678"),
			Ptr: &point{X: 1}, Amount: "1.5", Payload: []byte{0xff}, Any: []int{1},
			Addr: netip.MustParseAddr("10.0.0.1"), Embedded: Embedded{E: "e", Inner: 2}, private: 1,
		}, `{"name": "n", "-": "d", "quoted": "5", ` +
			`"when": {"__type__": "datetime", "__value__": "2024-05-01T12:00:03.118000+00:00"}, ` +
			`"id": {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}, ` +
			`"ptr": {"x": 1}, "nil_ptr": null, "amount": {"__type__": "decimal", "__value__": "1.5"}, ` +
			`"payload": {"__type__": "base64", "__value__": "/w=="}, "any": [1], "addr": "10.0.0.1", "E": "e", "inner": 2}`},
		{"embedded pointer", struct{ *embeddedPtr }{&embeddedPtr{P: "p"}}, `{"P": "p"}`},
		{"pointer to time", &when, `{"__type__": "datetime", "__value__": "2024-05-01T12:00:03.118000+00:00"}`},
		{"nil pointer", (*time.Time)(nil), `null`},
		{"pointer to decimal", func() *Decimal { d := Decimal("2"); return &d }(), `{"__type__": "decimal", "__value__": "2"}`},
		{"named string", status("ok"), `"ok"`},
		{"named bytes", blob("hi"), `{"__type__": "bytes", "__value__": "hi"}`},
		{"byte array", [3]byte{1, 2, 3}, `[1, 2, 3]`},
		{"nil slice", []int(nil), `null`},
		{"nil map", map[string]int(nil), `null`},
		{"nil []any", []any(nil), `null`},
		{"nil []byte", []byte(nil), `null`},
		{"int slice", []int{1, 2}, `[1, 2]`},
		{"float32 NaN", float32(math.NaN()), `NaN`},
		{"float32 0.1", []float32{0.1, 16777216}, `[0.1, 16777216.0]`},
		{"map int keys", map[int]bool{3: true, -1: false}, `{"-1": false, "3": true}`},
		{"map float keys", map[float64]int{1.5: 1, 2: 2}, `{"1.5": 1, "2.0": 2}`},
		{"map bool keys", map[bool]int{true: 1}, `{"true": 1}`},
		{"map text keys", map[netip.Addr]int{netip.MustParseAddr("::1"): 1}, `{"::1": 1}`},
		{"map of any", map[string]any{"b": []any{map[string]any{}}, "a": nil}, `{"a": null, "b": [{}]}`},
		{"marshaler", rawer{`{"a":1}`}, `{"a":1}`},
		{"marshaler NaN", rawer{`[NaN]`}, `[NaN]`},
		{"pointer marshaler addressable", &struct{ M ptrMarshaler }{ptrMarshaler{4}}, `{"M": 40}`},
		{"text marshaler", netip.MustParseAddr("1.2.3.4"), `"1.2.3.4"`},
		{"raw message", json.RawMessage(`{"x": [1, 2]}`), `{"x": [1, 2]}`},
		{"raw message NaN", json.RawMessage(`[NaN, -Infinity]`), `[NaN, -Infinity]`},
		{"empty raw message", json.RawMessage(nil), `null`},
		{"empty number", json.Number(""), `0`},
		{"number Infinity", json.Number("-Infinity"), `-Infinity`},
		{"invalid UTF-8 string", "a\xffb", `"a\ufffdb"`},
		{"any holding pointer", []any{&point{X: 3}}, `[{"x": 3}]`},
		{"marker lookalike map", map[string]any{"__type__": "bytes", "__value__": "x"},
			`{"__type__": "bytes", "__value__": "x"}`},
		{"typical body", []any{[]any{2, 2}, map[string]any{}, map[string]any{"callbacks": nil, "errbacks": nil, "chain": nil, "chord": nil}},
			`[[2, 2], {}, {"callbacks": null, "chain": null, "chord": null, "errbacks": null}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.in)
			if err != nil {
				t.Fatalf("Encode(%#v) error: %v", tc.in, err)
			}
			if string(got) != tc.want {
				t.Fatalf("Encode(%#v) = %s, want %s", tc.in, got, tc.want)
			}
			if _, err := Decode(got); err != nil {
				t.Fatalf("Decode(Encode(%#v)) error: %v", tc.in, err)
			}
		})
	}
}

// TestEncodeStructsLikeEncodingJSON checks the struct field rules against
// encoding/json for structs without Python-specific values.
func TestEncodeStructsLikeEncodingJSON(t *testing.T) {
	type A struct {
		X, Y int
	}
	type B struct {
		X int
		Z int `json:"z"`
	}
	type C struct {
		Y int `json:"X"`
	}
	type tagged struct {
		A
		B
		C `json:"c"`
		W string `json:"w,omitempty"`
	}
	type dup struct {
		A
		B
	}
	type conflict struct {
		A
		X string `json:"X"`
	}
	type weird struct {
		F1 int `json:",omitempty"`
		F2 int `json:"f 2"`
		F4 int `json:",string"`
	}
	for _, v := range []any{
		tagged{A: A{1, 2}, B: B{3, 4}, C: C{5}},
		dup{A{1, 2}, B{3, 4}},
		conflict{A{1, 2}, "x"},
		weird{0, 2, 4},
		struct{}{},
		[]any{point{1, 0}, &point{2, 3}},
	} {
		t.Run(fmt.Sprintf("%T", v), func(t *testing.T) {
			std, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Encode(v)
			if err != nil {
				t.Fatalf("Encode(%#v) error: %v", v, err)
			}
			want, _ := Decode(std)
			have, err := Decode(got)
			if err != nil || !pyEqual(have, want) {
				t.Fatalf("Encode(%#v) = %s, want the same value as encoding/json's %s", v, got, std)
			}
		})
	}
}

// TestEncodeMalformedTagName: a tag name with a quote is malformed. Go 1.26's
// encoding/json used the field's name; from Go 1.27 (encoding/json on its v2
// engine) it keeps the name up to the quote. pyjson keeps the first rule,
// whatever the toolchain.
func TestEncodeMalformedTagName(t *testing.T) {
	type malformed struct {
		F3 int `json:"f\"3"`
	}
	got, err := Encode(malformed{3})
	if err != nil || string(got) != `{"F3": 3}` {
		t.Errorf("Encode = %s, %v; want {\"F3\": 3}", got, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	type node struct {
		Next *node
	}
	loop := &node{}
	loop.Next = loop
	var self any
	self = &self
	deep := any(nil)
	for range MaxDepth + 1 {
		deep = []any{deep}
	}
	tests := []struct {
		name   string
		in     any
		target error
	}{
		{"chan", make(chan int), errUnsupported},
		{"func", func() {}, errUnsupported},
		{"complex", complex(1, 2), errUnsupported},
		{"struct key map", map[[2]int]int{{1, 2}: 3}, errUnsupported},
		{"chan in list", []any{1, make(chan int)}, errUnsupported},
		{"invalid date", Date{2024, time.February, 30}, nil},
		{"year zero date", Date{0, time.January, 1}, nil},
		{"invalid time of day", TimeOfDay{Hour: 24}, nil},
		{"offset too large", TimeOfDay{Offset: intPtr(86400)}, nil},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
		{"year 0", time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), nil},
		{"bad number", json.Number("1.2.3"), nil},
		{"bad number nan", json.Number("nan"), nil},
		{"bad decimal", Decimal("1,5"), nil},
		{"bad raw", json.RawMessage(`{"a":`), nil},
		{"bad marshaler output", rawer{`{`}, nil},
		{"marshaler error", rawer{"fail"}, nil},
		{"pointer cycle", loop, ErrTooDeep},
		{"interface cycle", self, ErrTooDeep},
		{"too deep", deep, ErrTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.in)
			if err == nil {
				t.Fatalf("Encode(%s) = %s, want an error", tc.name, got)
			}
			if !strings.HasPrefix(err.Error(), "pyjson: ") {
				t.Errorf("Encode(%s) error %q lacks the pyjson: prefix", tc.name, err)
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("Encode(%s) error = %v, want %v", tc.name, err, tc.target)
			}
			dst := []byte("prefix")
			out, err := AppendEncode(dst, tc.in)
			if err == nil || string(out) != "prefix" {
				t.Errorf("AppendEncode(prefix, %s) = %q, %v; want prefix unchanged and an error", tc.name, out, err)
			}
		})
	}
}

func TestEncodeDepthLimit(t *testing.T) {
	v := any("x")
	for range MaxDepth {
		v = []any{v}
	}
	if _, err := Encode(v); err != nil {
		t.Fatalf("Encode(%d levels) error: %v", MaxDepth, err)
	}
	m := map[string]any{"t": time.Now()}
	var w any = m
	for range MaxDepth - 1 {
		w = []any{w}
	}
	if _, err := Encode(w); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("Encode(datetime marker at level %d) error = %v, want ErrTooDeep", MaxDepth+1, err)
	}
}
