package pyjson

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"unicode/utf8"
)

// Decode parses data as one JSON value, the way Python's json.loads with
// kombu's object_hook does, and returns:
//
//   - nil for null, bool for true/false;
//   - json.Number for numbers, holding the exact text, so integers of any
//     size survive (Python turns a number with a fraction or exponent into
//     a float, e.g. 1e400 into inf; the text is kept as is);
//   - float64 for the Python tokens NaN, Infinity and -Infinity;
//   - string for strings (lone UTF-16 surrogates, which Python allows in
//     \u escapes, become U+FFFD);
//   - []any for arrays and map[string]any for objects (for duplicate keys
//     the last one wins, as in Python);
//   - for kombu marker objects, exactly {"__type__", "__value__"}:
//     time.Time (datetime), Date, TimeOfDay, Decimal, uuid.UUID, or []byte
//     (bytes and base64).
//
// Naive datetimes (no UTC offset) are returned in UTC, and datetimes with a
// zero offset use time.UTC.
//
// Strings and numbers in the result may share the memory of one copy of
// data (for inputs up to 1 MiB).
//
// Decode returns an error, never panicking, for anything Python would
// reject: malformed JSON, trailing non-whitespace data, input that is not
// UTF-8, control characters in strings, an unknown __type__
// (ErrUnknownMarker) or a marker value Python could not decode
// (ErrBadMarker). Nesting deeper than MaxDepth fails with ErrTooDeep.
// Syntax errors are *SyntaxError values.
func Decode(data []byte) (any, error) { return decode(data, false) }

// DecodeStrict is Decode for input celeriac takes from its own callers
// (the HTTP API's task arguments): a lone UTF-16 surrogate escape, which
// Go strings cannot hold, fails with ErrLoneSurrogate instead of becoming
// U+FFFD.
func DecodeStrict(data []byte) (any, error) { return decode(data, true) }

func decode(data []byte, strict bool) (any, error) {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	d.data, d.strict = data, strict
	if len(data) <= maxShared {
		// One copy of the input backs every string and number that has
		// no escapes, so those cost no allocation of their own.
		d.src = string(data)
	}
	d.skipSpace()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, d.syntaxError(d.pos, "extra data after the JSON value")
	}
	return v, nil
}

// decoder is a single-pass scanner over a byte slice. The stacks are
// scratch space shared by all nesting levels, so that every array and
// object is allocated once at its final size.
type decoder struct {
	data   []byte
	src    string // a copy of data shared by the results, or "" if not made
	pos    int
	depth  int
	buf    []byte   // scratch for unescaping strings
	vals   []any    // pending array elements and object values
	keys   []string // pending object keys
	lossy  bool     // the last string parsed had a lone surrogate replaced
	strict bool     // a lone surrogate is an error (DecodeStrict)
	cache  [internSize]internEntry
}

// Decoders are pooled so that their scratch stacks (and the unescape
// buffer) are allocated once, not per Decode: a message envelope has more
// keys than a stack-sized array holds, and those arrays escaped anyway.
var decoderPool = sync.Pool{New: func() any {
	return &decoder{vals: make([]any, 0, 64), keys: make([]string, 0, 64)}
}}

// maxPooledScratch bounds the scratch a pooled decoder keeps, so that one
// huge document does not pin its buffers for ever.
const maxPooledScratch = 4096

// release resets d, dropping every reference into the decoded document,
// and returns it to the pool.
func (d *decoder) release() {
	clear(d.vals[:cap(d.vals)])
	clear(d.keys[:cap(d.keys)])
	d.vals, d.keys = d.vals[:0], d.keys[:0]
	if cap(d.vals) > maxPooledScratch || cap(d.keys) > maxPooledScratch {
		d.vals, d.keys = make([]any, 0, 64), make([]string, 0, 64)
	}
	if cap(d.buf) > maxPooledScratch*16 {
		d.buf = nil
	}
	d.buf = d.buf[:0]
	d.data, d.src, d.pos, d.depth, d.lossy, d.strict = nil, "", 0, 0, false, false
	clear(d.cache[:])
	decoderPool.Put(d)
}

// maxShared is the largest input whose strings share one copy of it. For
// bigger inputs each string gets its own memory, so that keeping a small
// part of a huge message does not keep all of it.
const maxShared = 1 << 20

// Short strings and numbers repeat a lot in task bodies (keys, marker
// types, small ints), so their boxed interface values are interned per
// Decode call in a small direct-mapped cache. Strings are immutable, so
// sharing them is safe.
const (
	internSize = 32 // entries; a power of two
	internMax  = 36 // longest interned text, in bytes: a UUID (id, root_id, correlation_id)
)

// commonValues are string values found in nearly every task message
// (kombu's envelope, Celery's headers), boxed once for every Decode: a
// string stored in an interface costs an allocation otherwise.
var commonValues = func() map[string]any {
	m := map[string]any{}
	for _, s := range []string{
		"application/json", "utf-8", "binary", "base64", "py", "celery", "{}", "()",
		"application/x-python-serialize", "application/x-msgpack", "application/x-yaml",
		"application/data", "application/octet-stream", "utf8",
	} {
		m[s] = s
	}
	return m
}()

type internEntry struct {
	s   string
	str any // s boxed as a string value, once needed
	num any // s boxed as a json.Number, once needed
}

// text returns b as a string. off is the offset of b in the input, or -1
// when b holds unescaped text in d.buf.
func (d *decoder) text(b []byte, off int) string {
	if off >= 0 && d.src != "" {
		return d.src[off : off+len(b)]
	}
	return string(b)
}

func (d *decoder) intern(b []byte, off int) *internEntry {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	e := &d.cache[(h^h>>15)&(internSize-1)]
	if e.s != string(b) {
		*e = internEntry{s: d.text(b, off)}
	}
	return e
}

// makeString returns b (see text) as a string.
func (d *decoder) makeString(b []byte, off int) string {
	if (off < 0 || d.src == "") && len(b) > 0 && len(b) <= internMax {
		return d.intern(b, off).s
	}
	return d.text(b, off)
}

// makeStringValue returns b (see text) as a string in an interface.
func (d *decoder) makeStringValue(b []byte, off int) any {
	if len(b) == 0 || len(b) > internMax {
		return d.text(b, off)
	}
	if v, ok := commonValues[string(b)]; ok {
		return v
	}
	e := d.intern(b, off)
	if e.str == nil {
		e.str = e.s
	}
	return e.str
}

// makeNumber returns the number text at data[off:off+len(b)] as a
// json.Number in an interface.
func (d *decoder) makeNumber(b []byte, off int) any {
	if len(b) > internMax {
		return json.Number(d.text(b, off))
	}
	e := d.intern(b, off)
	if e.num == nil {
		e.num = json.Number(e.s)
	}
	return e.num
}

func (d *decoder) syntaxError(off int, msg string) error {
	return &SyntaxError{Offset: int64(off), msg: msg}
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// literal consumes word at d.pos.
func (d *decoder) literal(word string) bool {
	if len(d.data)-d.pos >= len(word) && string(d.data[d.pos:d.pos+len(word)]) == word {
		d.pos += len(word)
		return true
	}
	return false
}

func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.syntaxError(d.pos, "expecting value, got end of input")
	}
	switch c := d.data[d.pos]; c {
	case '"':
		b, off, err := d.str()
		if err != nil {
			return nil, err
		}
		return d.makeStringValue(b, off), nil
	case '{':
		return d.object()
	case '[':
		return d.array()
	case 't':
		if d.literal("true") {
			return true, nil
		}
	case 'f':
		if d.literal("false") {
			return false, nil
		}
	case 'n':
		if d.literal("null") {
			return nil, nil
		}
	case 'N':
		if d.literal("NaN") {
			return math.NaN(), nil
		}
	case 'I':
		if d.literal("Infinity") {
			return math.Inf(1), nil
		}
	case '-':
		if d.literal("-Infinity") {
			return math.Inf(-1), nil
		}
		return d.number()
	default:
		if isDigit(c) {
			return d.number()
		}
	}
	return nil, d.syntaxError(d.pos, "expecting value")
}

// number scans a JSON number (Python's grammar is RFC 8259's) and returns
// its text as a json.Number.
func (d *decoder) number() (any, error) {
	start := d.pos
	end, msg := numberEnd(d.data, start)
	if msg != "" {
		return nil, d.syntaxError(end, msg)
	}
	d.pos = end
	return d.makeNumber(d.data[start:end], start), nil
}

// numberEnd returns the end of the JSON number starting at s[i], or the
// offset of a problem and its description.
func numberEnd[T string | []byte](s T, i int) (int, string) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	default:
		return i, "expecting digit in number"
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return i, "expecting digit after decimal point"
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return i, "expecting digit in exponent"
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	return i, ""
}

// str parses the string starting at the '"' at d.pos. The result is
// either a slice of the input starting at off, or, with off -1, a slice of
// d.buf that is valid until the next call.
func (d *decoder) str() (b []byte, off int, err error) {
	data := d.data
	start := d.pos + 1
	for i := start; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				d.pos = i + 1
				return data[start:i], start, nil
			case c == '\\':
				b, err := d.strEscaped(start, i)
				return b, -1, err
			case c < 0x20:
				return nil, 0, d.syntaxError(i, "invalid control character in string")
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, 0, d.syntaxError(i, "invalid UTF-8 in string")
		}
		i += size
	}
	return nil, 0, d.syntaxError(d.pos, "unterminated string")
}

// strEscaped finishes a string that has an escape at data[i].
func (d *decoder) strEscaped(start, i int) ([]byte, error) {
	data := d.data
	buf := append(d.buf[:0], data[start:i]...)
	for i < len(data) {
		c := data[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, d.syntaxError(i, "invalid UTF-8 in string")
			}
			buf = append(buf, data[i:i+size]...)
			i += size
			continue
		}
		switch {
		case c == '"':
			d.pos = i + 1
			d.buf = buf
			return buf, nil
		case c < 0x20:
			return nil, d.syntaxError(i, "invalid control character in string")
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(data) {
			break
		}
		switch data[i+1] {
		case '"', '\\', '/':
			buf = append(buf, data[i+1])
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(data, i+2)
			if !ok {
				return nil, d.syntaxError(i, `invalid \uXXXX escape`)
			}
			i += 6
			if 0xD800 <= r && r < 0xDC00 {
				// A high surrogate pairs with an immediately following
				// \u escape of a low surrogate.
				if i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
					if r2, ok := hex4(data, i+2); ok && 0xDC00 <= r2 && r2 <= 0xDFFF {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
						i += 6
					}
				}
			}
			if 0xD800 <= r && r <= 0xDFFF {
				if d.strict {
					return nil, fmt.Errorf("%w: \\u%04x at offset %d", ErrLoneSurrogate, r, i-6)
				}
				r = utf8.RuneError
				d.lossy = true
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return nil, d.syntaxError(i, "invalid escape in string")
		}
		i += 2
	}
	d.buf = buf
	return nil, d.syntaxError(start-1, "unterminated string")
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > MaxDepth {
		return fmt.Errorf("%w: more than %d levels at offset %d", ErrTooDeep, MaxDepth, d.pos)
	}
	return nil
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // '['
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return []any{}, nil
	}
	base := len(d.vals)
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		d.vals = append(d.vals, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.syntaxError(d.pos, "unterminated array")
		}
		c := d.data[d.pos]
		d.pos++
		if c == ']' {
			break
		}
		if c != ',' {
			return nil, d.syntaxError(d.pos-1, "expecting ',' delimiter in array")
		}
		d.skipSpace()
	}
	arr := make([]any, len(d.vals)-base)
	copy(arr, d.vals[base:])
	clear(d.vals[base:])
	d.vals = d.vals[:base]
	d.depth--
	return arr, nil
}

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	start := d.pos
	d.pos++ // '{'
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return map[string]any{}, nil
	}
	base, kbase := len(d.vals), len(d.keys)
	valueLossy := false
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.syntaxError(d.pos, "expecting property name enclosed in double quotes")
		}
		kb, off, err := d.str()
		if err != nil {
			return nil, err
		}
		k := d.makeString(kb, off)
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.syntaxError(d.pos, "expecting ':' delimiter")
		}
		d.pos++
		d.skipSpace()
		d.lossy = false
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		if k == "__value__" {
			valueLossy = d.lossy
		}
		d.keys = append(d.keys, k)
		d.vals = append(d.vals, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.syntaxError(d.pos, "unterminated object")
		}
		c := d.data[d.pos]
		d.pos++
		if c == '}' {
			break
		}
		if c != ',' {
			return nil, d.syntaxError(d.pos-1, "expecting ',' delimiter in object")
		}
		d.skipSpace()
	}
	keys, vals := d.keys[kbase:], d.vals[base:]
	var result any
	if typ, val, ok := markerParts(keys, vals); ok {
		v, err := decodeMarker(typ, val, valueLossy)
		if err != nil {
			return nil, fmt.Errorf("%w (object at offset %d)", err, start)
		}
		result = v
	} else {
		m := make(map[string]any, len(keys))
		for i, k := range keys {
			m[k] = vals[i]
		}
		result = m
	}
	clear(vals)
	clear(keys)
	d.vals = d.vals[:base]
	d.keys = d.keys[:kbase]
	d.depth--
	return result, nil
}

// markerParts reports whether an object's keys are exactly __type__ and
// __value__ (repeats allowed, the last one wins as in Python) and returns
// their values.
func markerParts(keys []string, vals []any) (typ, val any, ok bool) {
	if len(keys) < 2 {
		return nil, nil, false
	}
	var haveType, haveValue bool
	for i, k := range keys {
		switch k {
		case "__type__":
			typ, haveType = vals[i], true
		case "__value__":
			val, haveValue = vals[i], true
		default:
			return nil, nil, false
		}
	}
	return typ, val, haveType && haveValue
}
