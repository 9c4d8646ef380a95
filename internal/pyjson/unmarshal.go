package pyjson

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Unmarshal decodes the JSON in data, read as Python's kombu reads it (see
// Decode), into the value target points to.
//
// Besides what encoding/json does (struct fields by json tag or
// case-insensitive name, maps with string, integer or TextUnmarshaler keys,
// slices, arrays, pointers, json.Unmarshaler and encoding.TextUnmarshaler
// implementations, numbers stored in interface values as json.Number), it
// understands Python's extensions:
//
//   - a datetime marker or an ISO 8601 string (as sent by kombu <= 5.2, or
//     naive) into time.Time; a date marker into Date; a time marker into
//     TimeOfDay;
//   - a uuid marker into uuid.UUID or string;
//   - a decimal marker into Decimal, string, float32/64 or (when integral)
//     an integer;
//   - bytes/base64 markers into []byte or string (a plain JSON string into
//     []byte is standard base64, as in encoding/json);
//   - NaN and ±Infinity into floats; numbers into any int or uint kind when
//     their value is integral and in range (2.0 and 1e3 are fine, 2.5 is
//     not); numbers too large for float64 become ±Inf, as in Python.
//
// A target of type *any receives exactly Decode's result. JSON null sets
// pointers, interfaces, maps and slices to nil and leaves other values
// unchanged. Errors are *SyntaxError, ErrTooDeep, ErrUnknownMarker and
// ErrBadMarker (wrapped) from decoding, or *UnmarshalTypeError.
func Unmarshal(data []byte, target any) error {
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("pyjson: Unmarshal needs a non-nil pointer, got %s", typeName(target))
	}
	switch p := target.(type) {
	case *any:
		v, err := Decode(data)
		if err != nil {
			return err
		}
		*p = v
		return nil
	case *[]any:
		v, err := Decode(data)
		if err != nil {
			return err
		}
		if l, ok := v.([]any); ok {
			*p = l
			return nil
		}
		return (&unmarshaler{}).assign(v, rv.Elem())
	}
	if !needsPythonDecoder(data) {
		// Plain JSON: encoding/json gives the same result, faster. If it
		// fails (for instance 2.0 into an int, a naive ISO time into
		// time.Time), the full decoder below decides.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(target); err == nil {
			if _, err := dec.Token(); err == io.EOF {
				return nil
			}
		}
	}
	v, err := Decode(data)
	if err != nil {
		return err
	}
	return (&unmarshaler{}).assign(v, rv.Elem())
}

// Assign stores v, a value as Decode returns it, into the value target
// points to, by Unmarshal's rules. It lets a caller that already holds a
// decoded message (a control reply, an event) fill a typed value without
// encoding it again.
func Assign(v any, target any) error {
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("pyjson: Assign needs a non-nil pointer, got %s", typeName(target))
	}
	return (&unmarshaler{}).assign(v, rv.Elem())
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}

// needsPythonDecoder reports whether data may use anything encoding/json
// would read differently from Python: markers (possibly with escaped key
// letters), NaN/Infinity, or bytes that are not UTF-8.
func needsPythonDecoder(data []byte) bool {
	if bytes.Contains(data, []byte("__type__")) || bytes.Contains(data, []byte("NaN")) ||
		bytes.Contains(data, []byte("Infinity")) {
		return true
	}
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(`\u00`))
		if j < 0 {
			break
		}
		i += j + 4
		if i+2 <= len(data) {
			switch [2]byte{data[i], data[i+1] | 0x20} { // lower-case the hex letter
			case [2]byte{'5', 'f'}, [2]byte{'7', '4'}, [2]byte{'7', '9'}, [2]byte{'7', '0'}, [2]byte{'6', '5'}:
				return true // an escaped _, t, y, p or e could spell __type__
			}
		}
	}
	return !utf8.Valid(data)
}

// UnmarshalTypeError reports a decoded value that cannot be stored in a Go
// value of the target type.
type UnmarshalTypeError struct {
	Value string       // what the JSON held, e.g. "a string", "a datetime", "the number 2.5"
	Type  reflect.Type // the Go type it could not be stored in
	Path  string       // where, e.g. "[1].when" (empty at the top level)
	Err   error        // the underlying problem, if any
}

// Error implements the error interface.
func (e *UnmarshalTypeError) Error() string {
	s := "pyjson: cannot unmarshal " + e.Value + " into Go value of type " + e.Type.String()
	if e.Path != "" {
		s += " at " + e.Path
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *UnmarshalTypeError) Unwrap() error { return e.Err }

func withPath(err error, seg string) error {
	var te *UnmarshalTypeError
	if errors.As(err, &te) {
		te.Path = seg + te.Path
	}
	return err
}

type unmarshaler struct {
	fields fieldCache
}

func typeError(v any, t reflect.Type, err error) error {
	desc := describe(v)
	if n, ok := v.(json.Number); ok {
		desc = "the number " + string(n)
	}
	return &UnmarshalTypeError{Value: desc, Type: t, Err: err}
}

// textOf returns the text form of string-like decoded values.
func textOf(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case uuid.UUID:
		return v.String(), true
	case Decimal:
		return string(v), true
	case Date:
		return v.String(), true
	case TimeOfDay:
		return v.String(), true
	case time.Time:
		b, err := appendISODateTime(nil, v)
		return string(b), err == nil
	}
	return "", false
}

// assign stores the decoded value v into rv.
func (u *unmarshaler) assign(v any, rv reflect.Value) error {
	t := rv.Type()
	if v == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
			rv.SetZero()
			return nil
		}
		if m, ok := asInterface[json.Unmarshaler](rv); ok {
			return m.UnmarshalJSON([]byte("null"))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			rv.Set(reflect.New(t.Elem()))
		}
		return u.assign(v, rv.Elem())
	case reflect.Interface:
		if t.NumMethod() == 0 {
			rv.Set(reflect.ValueOf(v))
			return nil
		}
		if vt := reflect.TypeOf(v); vt.Implements(t) {
			rv.Set(reflect.ValueOf(v))
			return nil
		}
		return typeError(v, t, nil)
	}
	if done, err := u.assignSpecial(v, rv); done {
		return err
	}
	if m, ok := asInterface[json.Unmarshaler](rv); ok {
		data, err := Encode(v)
		if err != nil {
			return typeError(v, t, err)
		}
		return m.UnmarshalJSON(data)
	}
	if m, ok := asInterface[encoding.TextUnmarshaler](rv); ok {
		if s, ok := textOf(v); ok {
			return m.UnmarshalText([]byte(s))
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return typeError(v, t, nil)
		}
		rv.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, err := integerText(v)
		if err != nil {
			return typeError(v, t, err)
		}
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return typeError(v, t, errors.New("value out of range"))
		}
		rv.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		s, err := integerText(v)
		if err != nil {
			return typeError(v, t, err)
		}
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			if s == "-0" {
				n, err = 0, nil
			} else {
				return typeError(v, t, errors.New("value out of range"))
			}
		}
		rv.SetUint(n)
		return nil
	case reflect.Float32, reflect.Float64:
		f, err := floatOf(v, t.Bits())
		if err != nil {
			return typeError(v, t, err)
		}
		rv.SetFloat(f)
		return nil
	case reflect.String:
		if s, ok := textOf(v); ok {
			rv.SetString(s)
			return nil
		}
		if b, ok := v.([]byte); ok {
			rv.SetString(string(b))
			return nil
		}
		return typeError(v, t, nil)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			b, err := bytesOf(v)
			if err == nil {
				rv.SetBytes(b)
				return nil
			}
			if _, isList := v.([]any); !isList {
				return typeError(v, t, err)
			}
		}
		l, ok := v.([]any)
		if !ok {
			return typeError(v, t, nil)
		}
		s := reflect.MakeSlice(t, len(l), len(l))
		for i, x := range l {
			if err := u.assign(x, s.Index(i)); err != nil {
				return withPath(err, "["+strconv.Itoa(i)+"]")
			}
		}
		rv.Set(s)
		return nil
	case reflect.Array:
		l, ok := v.([]any)
		if !ok {
			return typeError(v, t, nil)
		}
		for i := range rv.Len() {
			if i >= len(l) {
				rv.Index(i).SetZero()
				continue
			}
			if err := u.assign(l[i], rv.Index(i)); err != nil {
				return withPath(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return nil
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return typeError(v, t, nil)
		}
		return u.assignMap(m, rv)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return typeError(v, t, nil)
		}
		return u.assignStruct(m, rv)
	}
	return typeError(v, t, errors.New("unsupported target type"))
}

// assignSpecial handles the Go types that carry Python values.
func (u *unmarshaler) assignSpecial(v any, rv reflect.Value) (bool, error) {
	t := rv.Type()
	switch t {
	case reflect.TypeFor[time.Time]():
		var tm time.Time
		switch v := v.(type) {
		case time.Time:
			tm = v
		case string:
			dt, err := parseISODateTime(v)
			if err == nil {
				tm = dt.time()
			} else if tm, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return true, typeError(v, t, fmt.Errorf("not an ISO 8601 datetime: %q", v))
			}
		default:
			return true, typeError(v, t, nil)
		}
		rv.Set(reflect.ValueOf(tm))
	case reflect.TypeFor[Date]():
		var d Date
		switch v := v.(type) {
		case Date:
			d = v
		case time.Time:
			d = DateOf(v)
		case string:
			if err := d.UnmarshalText([]byte(v)); err != nil {
				return true, typeError(v, t, err)
			}
		default:
			return true, typeError(v, t, nil)
		}
		rv.Set(reflect.ValueOf(d))
	case reflect.TypeFor[TimeOfDay]():
		var tod TimeOfDay
		switch v := v.(type) {
		case TimeOfDay:
			tod = v
		case string:
			if err := tod.UnmarshalText([]byte(v)); err != nil {
				return true, typeError(v, t, err)
			}
		default:
			return true, typeError(v, t, nil)
		}
		rv.Set(reflect.ValueOf(tod))
	case reflect.TypeFor[uuid.UUID]():
		var id uuid.UUID
		switch v := v.(type) {
		case uuid.UUID:
			id = v
		case string:
			var err error
			if id, err = uuid.Parse(v); err != nil {
				return true, typeError(v, t, err)
			}
		default:
			return true, typeError(v, t, nil)
		}
		rv.Set(reflect.ValueOf(id))
	case reflect.TypeFor[Decimal]():
		var d Decimal
		if x, ok := v.(Decimal); ok {
			d = x
		} else {
			if _, isBool := v.(bool); isBool {
				return true, typeError(v, t, nil)
			}
			p, err := decimalFromValue(v)
			if err != nil {
				return true, typeError(v, t, err)
			}
			d = Decimal(p.String())
		}
		rv.SetString(string(d))
	case reflect.TypeFor[json.Number]():
		var n json.Number
		switch v := v.(type) {
		case json.Number:
			n = v
		case float64:
			n = json.Number(appendFloatJSON(nil, v, 64))
		case string:
			if !isJSONNumber(v) {
				return true, typeError(v, t, nil)
			}
			n = json.Number(v)
		default:
			return true, typeError(v, t, nil)
		}
		rv.SetString(string(n))
	case reflect.TypeFor[json.RawMessage]():
		b, err := Encode(v)
		if err != nil {
			return true, typeError(v, t, err)
		}
		rv.SetBytes(b)
	case reflect.TypeFor[[]byte]():
		b, err := bytesOf(v)
		if err != nil {
			return true, typeError(v, t, err)
		}
		rv.SetBytes(b)
	default:
		return false, nil
	}
	return true, nil
}

// bytesOf converts bytes markers, and base64 strings as encoding/json does.
func bytesOf(v any) ([]byte, error) {
	switch v := v.(type) {
	case []byte:
		return v, nil
	case string:
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("string is not standard base64: %w", err)
		}
		return b, nil
	}
	return nil, errors.New("not bytes")
}

// integerText returns the integer value of a JSON number or Decimal as
// decimal text, failing for fractional and non-finite values.
func integerText(v any) (string, error) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
		if isIntegerText(s) {
			return s, nil
		}
	case Decimal:
		s = string(v)
	case float64:
		return "", errors.New("not a finite number")
	default:
		return "", errors.New("not a number")
	}
	p, err := parseDecimal(s)
	if err != nil {
		return "", err
	}
	text, ok, tooBig := p.integer(20)
	switch {
	case tooBig:
		return "", errors.New("value out of range")
	case !ok:
		return "", errors.New("value is not an integer")
	}
	return text, nil
}

// floatOf converts numbers, NaN/Infinity and Decimals to a float of the
// given size.
func floatOf(v any, bits int) (float64, error) {
	var f float64
	switch v := v.(type) {
	case float64:
		return v, nil
	case json.Number:
		var err error
		f, err = strconv.ParseFloat(string(v), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, err
		}
	case Decimal:
		var err error
		if f, err = v.Float64(); err != nil {
			return 0, err
		}
	default:
		return 0, errors.New("not a number")
	}
	if bits == 32 && !math.IsInf(f, 0) && math.Abs(f) > math.MaxFloat32 {
		return 0, errors.New("value out of range")
	}
	return f, nil
}

func (u *unmarshaler) assignMap(m map[string]any, rv reflect.Value) error {
	t := rv.Type()
	kt := t.Key()
	if rv.IsNil() {
		rv.Set(reflect.MakeMapWithSize(t, len(m)))
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key := reflect.New(kt).Elem()
		if tu, ok := asInterface[encoding.TextUnmarshaler](key); ok && kt.Kind() != reflect.String {
			if err := tu.UnmarshalText([]byte(k)); err != nil {
				return &UnmarshalTypeError{Value: "the key " + strconv.Quote(k), Type: kt, Err: err}
			}
		} else {
			switch kt.Kind() {
			case reflect.String:
				key.SetString(k)
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				n, err := strconv.ParseInt(k, 10, kt.Bits())
				if err != nil {
					return &UnmarshalTypeError{Value: "the key " + strconv.Quote(k), Type: kt, Err: err}
				}
				key.SetInt(n)
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
				n, err := strconv.ParseUint(k, 10, kt.Bits())
				if err != nil {
					return &UnmarshalTypeError{Value: "the key " + strconv.Quote(k), Type: kt, Err: err}
				}
				key.SetUint(n)
			default:
				return &UnmarshalTypeError{Value: "an object", Type: t, Err: errors.New("unsupported map key type")}
			}
		}
		elem := reflect.New(t.Elem()).Elem()
		if err := u.assign(m[k], elem); err != nil {
			return withPath(err, "["+strconv.Quote(k)+"]")
		}
		rv.SetMapIndex(key, elem)
	}
	return nil
}

func (u *unmarshaler) assignStruct(m map[string]any, rv reflect.Value) error {
	fields := u.fields.get(rv.Type())
	for _, k := range slices.Sorted(maps.Keys(m)) {
		f := lookupField(fields, k)
		if f == nil {
			continue
		}
		fv, err := fieldForSet(rv, f.index)
		if err != nil {
			return &UnmarshalTypeError{Value: "an object", Type: rv.Type(), Path: "." + k, Err: err}
		}
		v := m[k]
		if s, ok := v.(string); ok && f.quoted && quotable(fv) {
			inner, err := Decode([]byte(s))
			if err != nil {
				return &UnmarshalTypeError{Value: "a string", Type: fv.Type(), Path: "." + k,
					Err: fmt.Errorf("invalid use of ,string struct tag: %w", err)}
			}
			v = inner
		}
		if err := u.assign(v, fv); err != nil {
			return withPath(err, "."+k)
		}
	}
	return nil
}

// fieldForSet follows index, allocating nil embedded struct pointers.
func fieldForSet(v reflect.Value, index []int) (reflect.Value, error) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, fmt.Errorf("cannot set embedded pointer to unexported struct %s", v.Type().Elem())
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, nil
}
