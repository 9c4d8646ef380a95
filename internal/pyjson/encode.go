package pyjson

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"
)

// maxRecursion bounds pointer and interface indirections during encoding,
// so that a self-referencing pointer cannot recurse forever.
const maxRecursion = 4 * MaxDepth

// Encode returns the JSON encoding of v that Python's kombu decodes into the
// natural Python value. The bytes are those kombu's dumps (json.dumps with
// its default ", " and ": " separators and ASCII-only output) writes for
// that Python value, except that map keys are sorted.
//
//   - nil, bool, string, every int and uint kind;
//   - float64 and float32 as Python writes floats: integral values keep a
//     ".0" (2.0, not 2) and NaN and ±Inf are the bare tokens NaN, Infinity
//     and -Infinity; float32 uses the shortest text that round-trips it;
//   - json.Number verbatim (it must be a JSON number or NaN, Infinity,
//     -Infinity; the empty Number is written as 0);
//   - json.RawMessage verbatim after a syntax check (empty means null);
//   - []any, map[string]any and, via reflection, any slice, array, map
//     (keys of string, integer, float and bool kinds or implementing
//     encoding.TextMarshaler become strings, as in Python) and pointer;
//     nil slices, maps and pointers are null;
//   - time.Time as a datetime marker with Python's isoformat text, e.g.
//     "2024-05-01T12:00:03.118000+00:00" (microseconds omitted when zero,
//     anything finer than a microsecond truncated; the year must be in
//     1..9999);
//   - Date, TimeOfDay, Decimal and uuid.UUID as their markers, after
//     checking that Python will accept the value;
//   - []byte (and other byte slices) as a "bytes" marker when it is valid
//     UTF-8 and a "base64" marker otherwise;
//   - types implementing json.Marshaler (other than the above) through
//     MarshalJSON, and encoding.TextMarshaler as a string;
//   - structs as objects, following encoding/json's rules for exported
//     fields and json tags (names, "-", omitempty, omitzero, string,
//     embedded structs), with fields in declaration order.
//
// Values nested deeper than MaxDepth fail with ErrTooDeep; channels,
// functions and complex numbers are errors.
func Encode(v any) ([]byte, error) {
	return AppendEncode(make([]byte, 0, 128), v)
}

// AppendEncode appends the encoding of v (see Encode) to dst and returns
// the extended slice. On error it returns dst unchanged.
func AppendEncode(dst []byte, v any) ([]byte, error) {
	var keys [16]string
	e := encoder{keys: keys[:0]}
	b, err := e.encode(dst, v)
	if err != nil {
		return dst, err
	}
	return b, nil
}

type encoder struct {
	depth     int        // open JSON arrays and objects
	recursion int        // pointer/interface indirections
	keys      []string   // scratch for sorting map keys
	fields    fieldCache // struct fields seen in this call
	scratch   []byte     // for ",string" struct fields
}

func (e *encoder) enter(levels int) error {
	if e.depth+levels > MaxDepth {
		return fmt.Errorf("%w: value has more than %d levels", ErrTooDeep, MaxDepth)
	}
	return nil
}

func (e *encoder) encode(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return appendBool(b, v), nil
	case string:
		return appendString(b, v), nil
	case json.Number:
		return appendNumber(b, v)
	case float64:
		return appendFloatJSON(b, v, 64), nil
	case float32:
		return appendFloatJSON(b, float64(v), 32), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(v), 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		if err := e.enter(1); err != nil {
			return b, err
		}
		e.depth++
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = e.encode(b, x); err != nil {
				return b, err
			}
		}
		e.depth--
		return append(b, ']'), nil
	case map[string]any:
		if v == nil {
			return append(b, "null"...), nil
		}
		if err := e.enter(1); err != nil {
			return b, err
		}
		e.depth++
		b = append(b, '{')
		base := len(e.keys)
		for k := range v {
			e.keys = append(e.keys, k)
		}
		keys := e.keys[base:]
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendString(b, k)
			b = append(b, ": "...)
			var err error
			if b, err = e.encode(b, v[k]); err != nil {
				return b, err
			}
		}
		clear(keys)
		e.keys = e.keys[:base]
		e.depth--
		return append(b, '}'), nil
	case []string:
		if v == nil {
			return append(b, "null"...), nil
		}
		if err := e.enter(1); err != nil {
			return b, err
		}
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	case map[string]string:
		if v == nil {
			return append(b, "null"...), nil
		}
		if err := e.enter(1); err != nil {
			return b, err
		}
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendString(b, k)
			b = append(b, ": "...)
			b = appendString(b, v[k])
		}
		return append(b, '}'), nil
	case time.Time:
		if err := e.enter(1); err != nil {
			return b, err
		}
		b = appendMarkerStart(b, "datetime")
		b = append(b, '"')
		b, err := appendISODateTime(b, v)
		if err != nil {
			return b, fmt.Errorf("pyjson: cannot encode time.Time %s: %w", v.Format(time.RFC3339Nano), err)
		}
		return append(b, `"}`...), nil
	case Date:
		if err := v.valid(); err != nil {
			return b, fmt.Errorf("pyjson: cannot encode Date: %w", err)
		}
		if err := e.enter(1); err != nil {
			return b, err
		}
		b = appendMarkerStart(b, "date")
		b = append(b, '"')
		b = v.appendISO(b)
		return append(b, `"}`...), nil
	case TimeOfDay:
		if err := v.valid(); err != nil {
			return b, fmt.Errorf("pyjson: cannot encode TimeOfDay: %w", err)
		}
		if err := e.enter(1); err != nil {
			return b, err
		}
		b = appendMarkerStart(b, "time")
		b = append(b, '"')
		b = v.appendISO(b)
		return append(b, `"}`...), nil
	case Decimal:
		if _, err := scanDecimal(string(v)); err != nil {
			return b, fmt.Errorf("pyjson: cannot encode Decimal %q: %w", string(v), err)
		}
		if err := e.enter(1); err != nil {
			return b, err
		}
		b = appendMarkerStart(b, "decimal")
		b = appendString(b, string(v))
		return append(b, '}'), nil
	case uuid.UUID:
		if err := e.enter(2); err != nil {
			return b, err
		}
		b = appendMarkerStart(b, "uuid")
		b = append(b, `{"hex": "`...)
		b = appendHex(b, v[:])
		return append(b, `"}}`...), nil
	case json.RawMessage:
		return appendRaw(b, v)
	case []byte:
		if v == nil {
			return append(b, "null"...), nil
		}
		if err := e.enter(1); err != nil {
			return b, err
		}
		return appendBytesMarker(b, v), nil
	}
	return e.reflectValue(b, reflect.ValueOf(v))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

func appendMarkerStart(b []byte, typ string) []byte {
	b = append(b, `{"__type__": "`...)
	b = append(b, typ...)
	return append(b, `", "__value__": `...)
}

func appendBytesMarker(b []byte, v []byte) []byte {
	if utf8.Valid(v) {
		b = appendMarkerStart(b, "bytes")
		b = appendString(b, string(v))
		return append(b, '}')
	}
	b = appendMarkerStart(b, "base64")
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, `"}`...)
}

func appendHex(b []byte, v []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range v {
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}

// appendNumber writes a json.Number after checking that Python can read it.
func appendNumber(b []byte, n json.Number) ([]byte, error) {
	s := string(n)
	switch s {
	case "":
		return append(b, '0'), nil
	case "NaN", "Infinity", "-Infinity":
		return append(b, s...), nil
	}
	if !isJSONNumber(s) {
		return b, fmt.Errorf("pyjson: invalid json.Number %q", s)
	}
	return append(b, s...), nil
}

// isJSONNumber reports whether s is exactly one JSON number.
func isJSONNumber(s string) bool {
	end, msg := numberEnd(s, 0)
	return msg == "" && end == len(s)
}

// appendRaw writes a json.RawMessage verbatim once it is known to be valid
// JSON for Python (NaN and Infinity allowed).
func appendRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return append(b, "null"...), nil
	}
	if !json.Valid(raw) {
		if _, err := Decode(raw); err != nil {
			return b, fmt.Errorf("pyjson: invalid json.RawMessage: %w", err)
		}
	}
	return append(b, raw...), nil
}

// appendString writes s as Python's json.dumps does with ensure_ascii:
// printable ASCII is copied; '"', '\\', \b \f \n \r \t get short escapes;
// other control characters, DEL and all non-ASCII characters become
// lowercase \uXXXX escapes (UTF-16 surrogate pairs above U+FFFF). Invalid
// UTF-8 is written as U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			if r >= 0x10000 {
				r1, r2 := utf16.EncodeRune(r)
				b = append(b, '\\', 'u', hex[r1>>12&0xf], hex[r1>>8&0xf], hex[r1>>4&0xf], hex[r1&0xf])
				r = r2
			}
			b = append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		}
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

var errUnsupported = errors.New("pyjson: unsupported type")

func (e *encoder) reflectValue(b []byte, v reflect.Value) ([]byte, error) {
	e.recursion++
	defer func() { e.recursion-- }()
	if e.recursion > maxRecursion {
		return b, fmt.Errorf("%w: more than %d nested pointers or interfaces (a cycle?)", ErrTooDeep, maxRecursion)
	}
	if !v.IsValid() {
		return append(b, "null"...), nil
	}
	t := v.Type()
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		return e.reflectValue(b, v.Elem())
	}
	if isSpecialType(t) && v.CanInterface() {
		return e.encode(b, v.Interface())
	}
	if m, ok := asInterface[json.Marshaler](v); ok {
		out, err := m.MarshalJSON()
		if err != nil {
			return b, fmt.Errorf("pyjson: MarshalJSON for %s: %w", t, err)
		}
		b2, err := appendRaw(b, out)
		if err != nil {
			return b, fmt.Errorf("pyjson: MarshalJSON for %s returned invalid JSON: %w", t, err)
		}
		return b2, nil
	}
	if m, ok := asInterface[encoding.TextMarshaler](v); ok {
		text, err := m.MarshalText()
		if err != nil {
			return b, fmt.Errorf("pyjson: MarshalText for %s: %w", t, err)
		}
		return appendString(b, string(text)), nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return appendBool(b, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case reflect.Float32:
		return appendFloatJSON(b, v.Float(), 32), nil
	case reflect.Float64:
		return appendFloatJSON(b, v.Float(), 64), nil
	case reflect.String:
		return appendString(b, v.String()), nil
	case reflect.Slice:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		if t.Elem().Kind() == reflect.Uint8 && !implementsAny(t.Elem()) {
			if err := e.enter(1); err != nil {
				return b, err
			}
			return appendBytesMarker(b, v.Bytes()), nil
		}
		if t.Elem() == anyType && v.CanInterface() { // a named []any: the fast path
			return e.encode(b, v.Convert(anySliceType).Interface())
		}
		return e.reflectList(b, v)
	case reflect.Array:
		return e.reflectList(b, v)
	case reflect.Map:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		if t.Key() == stringType && t.Elem() == anyType && v.CanInterface() {
			// A named map[string]any (such as events.Event): the fast path,
			// same output (sorted keys) without reflection per entry.
			return e.encode(b, v.Convert(anyMapType).Interface())
		}
		return e.reflectMap(b, v)
	case reflect.Struct:
		return e.reflectStruct(b, v)
	}
	return b, fmt.Errorf("%w %s", errUnsupported, t)
}

var (
	anyType      = reflect.TypeFor[any]()
	stringType   = reflect.TypeFor[string]()
	anySliceType = reflect.TypeFor[[]any]()
	anyMapType   = reflect.TypeFor[map[string]any]()
)

func isSpecialType(t reflect.Type) bool {
	switch t {
	case reflect.TypeFor[time.Time](), reflect.TypeFor[uuid.UUID](), reflect.TypeFor[Date](),
		reflect.TypeFor[TimeOfDay](), reflect.TypeFor[Decimal](), reflect.TypeFor[json.Number](),
		reflect.TypeFor[json.RawMessage](), reflect.TypeFor[[]byte]():
		return true
	}
	return false
}

// implementsAny reports whether t has its own JSON or text marshaling.
func implementsAny(t reflect.Type) bool {
	m, tm := reflect.TypeFor[json.Marshaler](), reflect.TypeFor[encoding.TextMarshaler]()
	pt := reflect.PointerTo(t)
	return t.Implements(m) || t.Implements(tm) || pt.Implements(m) || pt.Implements(tm)
}

// asInterface returns v (or &v when v is addressable and only *T has the
// method) as an I.
func asInterface[I any](v reflect.Value) (I, bool) {
	it := reflect.TypeFor[I]()
	if v.Type().Implements(it) && v.CanInterface() {
		i, ok := v.Interface().(I)
		return i, ok
	}
	if v.CanAddr() && reflect.PointerTo(v.Type()).Implements(it) && v.Addr().CanInterface() {
		i, ok := v.Addr().Interface().(I)
		return i, ok
	}
	var zero I
	return zero, false
}

func (e *encoder) reflectList(b []byte, v reflect.Value) ([]byte, error) {
	if err := e.enter(1); err != nil {
		return b, err
	}
	e.depth++
	b = append(b, '[')
	for i := range v.Len() {
		if i > 0 {
			b = append(b, ", "...)
		}
		var err error
		if b, err = e.reflectValue(b, v.Index(i)); err != nil {
			return b, err
		}
	}
	e.depth--
	return append(b, ']'), nil
}

// mapKeyString converts a map key to the string Python's json.dumps would
// use for the equivalent Python key.
func mapKeyString(k reflect.Value) (string, error) {
	if (k.Kind() == reflect.Pointer || k.Kind() == reflect.Interface) && k.IsNil() {
		return "null", nil
	}
	if m, ok := asInterface[encoding.TextMarshaler](k); ok && k.Kind() != reflect.String {
		text, err := m.MarshalText()
		if err != nil {
			return "", fmt.Errorf("pyjson: MarshalText for map key %s: %w", k.Type(), err)
		}
		return string(text), nil
	}
	switch k.Kind() {
	case reflect.String:
		return k.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10), nil
	case reflect.Float32:
		return string(appendFloatJSON(nil, k.Float(), 32)), nil
	case reflect.Float64:
		return string(appendFloatJSON(nil, k.Float(), 64)), nil
	case reflect.Bool:
		return string(appendBool(nil, k.Bool())), nil
	case reflect.Interface, reflect.Pointer:
		if k.IsNil() {
			return "null", nil
		}
		return mapKeyString(k.Elem())
	}
	return "", fmt.Errorf("%w %s as a map key", errUnsupported, k.Type())
}

func (e *encoder) reflectMap(b []byte, v reflect.Value) ([]byte, error) {
	if err := e.enter(1); err != nil {
		return b, err
	}
	type entry struct {
		key string
		val reflect.Value
	}
	entries := make([]entry, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		k, err := mapKeyString(it.Key())
		if err != nil {
			return b, err
		}
		entries = append(entries, entry{k, it.Value()})
	}
	slices.SortFunc(entries, func(x, y entry) int {
		switch {
		case x.key < y.key:
			return -1
		case x.key > y.key:
			return 1
		}
		return 0
	})
	e.depth++
	b = append(b, '{')
	for i, en := range entries {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendString(b, en.key)
		b = append(b, ": "...)
		var err error
		if b, err = e.reflectValue(b, en.val); err != nil {
			return b, err
		}
	}
	e.depth--
	return append(b, '}'), nil
}

// fieldCache remembers typeFields per struct type for one Encode or
// Unmarshal call.
type fieldCache map[reflect.Type][]field

func (c *fieldCache) get(t reflect.Type) []field {
	if fs, ok := (*c)[t]; ok {
		return fs
	}
	if *c == nil {
		*c = make(fieldCache)
	}
	fs := typeFields(t)
	(*c)[t] = fs
	return fs
}

func (e *encoder) reflectStruct(b []byte, v reflect.Value) ([]byte, error) {
	if err := e.enter(1); err != nil {
		return b, err
	}
	e.depth++
	b = append(b, '{')
	n := 0
	for _, f := range e.fields.get(v.Type()) {
		fv, ok := fieldByIndex(v, f.index)
		if !ok {
			continue
		}
		if f.omitEmpty && isEmptyValue(fv) || f.omitZero && isZeroValue(fv) {
			continue
		}
		if n > 0 {
			b = append(b, ", "...)
		}
		n++
		b = appendString(b, f.name)
		b = append(b, ": "...)
		var err error
		if f.quoted && quotable(fv) {
			e.scratch, err = e.reflectValue(e.scratch[:0], fv)
			b = appendString(b, string(e.scratch))
		} else {
			b, err = e.reflectValue(b, fv)
		}
		if err != nil {
			return b, err
		}
	}
	e.depth--
	return append(b, '}'), nil
}

// fieldByIndex follows index through embedded structs, reporting false
// when a nil embedded pointer is in the way.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// quotable reports whether the ",string" tag option applies to v's kind.
func quotable(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return !isSpecialType(v.Type())
	}
	return false
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

func isZeroValue(v reflect.Value) bool {
	if z, ok := asInterface[interface{ IsZero() bool }](v); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}
