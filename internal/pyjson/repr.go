package pyjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Celery's limits for the argsrepr/kwargsrepr headers (argsrepr_maxsize,
// kwargsrepr_maxsize, resultrepr_maxsize) and the task_repr_maxlevels
// default.
const (
	// ReprMaxSize is the length Celery truncates argsrepr, kwargsrepr and
	// event result reprs to.
	ReprMaxSize = 1024
	// ReprMaxLevels is Celery's default task_repr_maxlevels: containers
	// nested deeper are shown as [...], {...} or (...).
	ReprMaxLevels = 3
)

// pyTuple is a Python tuple, used for the args of ArgsRepr.
type pyTuple []any

// PyRepr returns what Python's repr() shows for the value v decodes to:
// None, True, 'text' (with Python's quoting and escaping), 1, 2.0, nan,
// inf, [1, 2], {'a': 1} (keys sorted), b'\x00',
// datetime.datetime(2024, 5, 1, 12, 0, 3, 118000, tzinfo=datetime.timezone.utc),
// datetime.date(2024, 5, 1), datetime.time(12, 0), Decimal('3.14'),
// UUID('...'). Numbers with a fraction or exponent are shown as the Python
// float they denote. Go values that are not Decode results (ints, structs,
// typed slices, ...) are shown as the Python value Encode makes of them.
func PyRepr(v any) string {
	return string(appendRepr(nil, v, nil))
}

// containerID identifies a list or dict for recursion detection, as
// Python's repr shows a container inside itself as [...] or {...}.
func containerID(v any) uintptr {
	switch v.(type) {
	case []any, pyTuple, map[string]any:
		return reflect.ValueOf(v).Pointer()
	}
	return 0
}

// appendRepr appends Python's repr of v; active lists the containers being
// shown.
func appendRepr(b []byte, v any, active []uintptr) []byte {
	if id := containerID(v); id != 0 {
		if len(active) >= MaxDepth || slices.Contains(active, id) {
			if _, ok := v.(map[string]any); ok {
				return append(b, "{...}"...)
			}
			return append(b, "[...]"...)
		}
		active = append(active, id)
	}
	switch v := v.(type) {
	case nil:
		return append(b, "None"...)
	case bool:
		if v {
			return append(b, "True"...)
		}
		return append(b, "False"...)
	case string:
		return appendStrRepr(b, v)
	case []byte:
		return appendBytesRepr(b, v)
	case json.Number:
		return appendNumberRepr(b, string(v))
	case float64:
		return appendFloatPy(b, v)
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendRepr(b, x, active)
		}
		return append(b, ']')
	case pyTuple:
		b = append(b, '(')
		for i, x := range v {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendRepr(b, x, active)
		}
		if len(v) == 1 {
			b = append(b, ',')
		}
		return append(b, ')')
	case map[string]any:
		b = append(b, '{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendStrRepr(b, k)
			b = append(b, ": "...)
			b = appendRepr(b, v[k], active)
		}
		return append(b, '}')
	case time.Time:
		return appendDateTimeRepr(b, v)
	case Date:
		return fmt.Appendf(b, "datetime.date(%d, %d, %d)", v.Year, int(v.Month), v.Day)
	case TimeOfDay:
		return appendTimeRepr(b, v)
	case Decimal:
		b = append(b, "Decimal("...)
		if p, err := parseDecimal(string(v)); err == nil {
			b = appendStrRepr(b, p.String())
		} else {
			b = appendStrRepr(b, string(v))
		}
		return append(b, ')')
	case uuid.UUID:
		b = append(b, "UUID('"...)
		b = append(b, v.String()...)
		return append(b, "')"...)
	}
	if pv, ok := pythonView(v); ok {
		return appendRepr(b, pv, active)
	}
	return fmt.Append(b, v)
}

// pythonView converts a Go value that Decode never returns into the value
// Python would see after Encode.
func pythonView(v any) (any, bool) {
	data, err := Encode(v)
	if err != nil {
		return nil, false
	}
	pv, err := Decode(data)
	if err != nil {
		return nil, false
	}
	return pv, true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendStrRepr appends Python's repr() of a str.
func appendStrRepr(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b = append(b, quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r < 0x20 || r == 0x7f:
			b = append(b, '\\', 'x', hex[r>>4], hex[r&0xf])
		case r < 0x7f:
			b = append(b, byte(r))
		case unicode.IsPrint(r):
			b = utf8.AppendRune(b, r)
		case r <= 0xff:
			b = append(b, '\\', 'x', hex[r>>4], hex[r&0xf])
		case r <= 0xffff:
			b = append(b, '\\', 'u', hex[r>>12], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			b = append(b, '\\', 'U')
			for shift := 28; shift >= 0; shift -= 4 {
				b = append(b, hex[r>>shift&0xf])
			}
		}
	}
	return append(b, quote)
}

// appendBytesRepr appends Python's repr() of a bytes object.
func appendBytesRepr(b []byte, v []byte) []byte {
	const hex = "0123456789abcdef"
	quote := byte('\'')
	if slices.Contains(v, '\'') && !slices.Contains(v, '"') {
		quote = '"'
	}
	b = append(b, 'b', quote)
	for _, c := range v {
		switch {
		case c == quote || c == '\\':
			b = append(b, '\\', c)
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, quote)
}

// appendNumberRepr shows a JSON number as the Python int or float it
// decodes to.
func appendNumberRepr(b []byte, s string) []byte {
	if isIntegerText(s) {
		if strings.TrimLeft(s, "-0") == "" && s != "" {
			return append(b, '0') // -0 is the int 0
		}
		return append(b, s...)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return append(b, s...) // not a number; show it as it is
	}
	return appendFloatPy(b, f)
}

// appendFloatPy appends Python's repr() of a float (nan, inf, -inf, 2.0).
func appendFloatPy(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	return appendFloatRepr(b, f, 64)
}

// appendTZRepr appends ", tzinfo=..." as Python's repr shows a fixed
// offset timezone.
func appendTZRepr(b []byte, off int) []byte {
	if off == 0 {
		return append(b, ", tzinfo=datetime.timezone.utc"...)
	}
	days := off / 86400
	secs := off % 86400
	if secs < 0 {
		secs += 86400
		days--
	}
	b = append(b, ", tzinfo=datetime.timezone(datetime.timedelta("...)
	if days != 0 {
		b = fmt.Appendf(b, "days=%d", days)
		if secs != 0 {
			b = append(b, ", "...)
		}
	}
	if secs != 0 {
		b = fmt.Appendf(b, "seconds=%d", secs)
	}
	return append(b, "))"...)
}

func appendDateTimeRepr(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	us := t.Nanosecond() / 1000
	b = fmt.Appendf(b, "datetime.datetime(%d, %d, %d, %d, %d", y, int(mo), d, h, mi)
	if us != 0 {
		b = fmt.Appendf(b, ", %d, %d", s, us)
	} else if s != 0 {
		b = fmt.Appendf(b, ", %d", s)
	}
	_, off := t.Zone()
	b = appendTZRepr(b, off)
	return append(b, ')')
}

func appendTimeRepr(b []byte, t TimeOfDay) []byte {
	us := t.Nanosecond / 1000
	b = fmt.Appendf(b, "datetime.time(%d, %d", t.Hour, t.Minute)
	if us != 0 {
		b = fmt.Appendf(b, ", %d, %d", t.Second, us)
	} else if t.Second != 0 {
		b = fmt.Appendf(b, ", %d", t.Second)
	}
	if t.Offset != nil {
		b = appendTZRepr(b, *t.Offset)
	}
	return append(b, ')')
}

// Truncate shortens s the way celery.utils.text.truncate does: when s has
// n or more characters (code points), it is cut to n characters, then back
// to the last space if there is one, and "..." is appended. n <= 0 means
// no limit.
func Truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) < n {
		return s
	}
	t := s
	for i := range s {
		if n == 0 {
			t = s[:i]
			break
		}
		n--
	}
	if i := strings.LastIndexByte(t, ' '); i >= 0 {
		t = t[:i]
	}
	return t + "..."
}

// ArgsRepr returns the argsrepr header Celery 5.7 computes for positional
// args: saferepr(tuple(args), 1024, maxlevels=3), e.g. "()", "(1,)",
// "(2, 2)". See SafeRepr.
func ArgsRepr(args []any) string {
	return SafeRepr(pyTuple(args), ReprMaxSize, ReprMaxLevels)
}

// KwargsRepr returns the kwargsrepr header Celery 5.7 computes for keyword
// args: saferepr(kwargs, 1024, maxlevels=3), e.g. "{'x': 1}". Keys are
// sorted (Python would keep insertion order).
func KwargsRepr(kw map[string]any) string {
	if kw == nil {
		kw = map[string]any{}
	}
	return SafeRepr(kw, ReprMaxSize, ReprMaxLevels)
}

// SafeRepr reproduces celery.utils.saferepr.saferepr(v, maxlen, maxlevels),
// which Celery uses for argsrepr/kwargsrepr and for the result field of
// task-succeeded events (with maxlen 1024). It differs from PyRepr:
//
//   - strings are always in single quotes with only ' escaped (newlines
//     and other characters appear as they are);
//   - bytes are shown decoded as UTF-8, or as hex when that fails;
//   - containers nested maxlevels deep or more are shown as [...], {...};
//   - once the output reaches maxlen characters it ends with ", ..." and the
//     closing brackets of the open containers; strings and other values
//     are cut with Truncate to the remaining length.
//
// maxlen <= 0 means no length limit and maxlevels <= 0 no level limit.
// Map keys are sorted.
func SafeRepr(v any, maxlen, maxlevels int) string {
	s := safeRepr{maxlen: maxlen, limited: maxlen > 0, maxlevels: maxlevels}
	s.value(v)
	return string(s.out)
}

// safeRepr is the state of one SafeRepr call. It follows the token stream
// of Celery's reprstream: each literal, key and value is a token; when the
// remaining length is used up, the next token that is not a closing
// bracket ends the output with ", ..." and the open brackets are closed.
type safeRepr struct {
	out       []byte
	maxlen    int // remaining length, when limited
	limited   bool
	maxlevels int
	level     int
	stopped   bool
	active    []uintptr // containers being shown, to detect cycles
}

func (s *safeRepr) exhausted() bool { return s.limited && s.maxlen <= 0 }

func (s *safeRepr) emit(text string) {
	s.out = append(s.out, text...)
	if s.limited {
		s.maxlen -= utf8.RuneCountInString(text)
	}
}

// next checks the budget before a token that is not a closing bracket. It
// reports false, after writing ", ...", when the output is cut.
func (s *safeRepr) next() bool {
	if s.exhausted() {
		s.out = append(s.out, ", ..."...)
		s.stopped = true
		return false
	}
	return true
}

func (s *safeRepr) value(v any) {
	var (
		open, close string
		list        []any
		dict        map[string]any
		isDict      bool
	)
	switch x := v.(type) {
	case []any:
		open, close, list = "[", "]", x
	case pyTuple:
		open, close, list = "(", ")", x
		if len(x) == 1 {
			close = ",)"
		}
	case map[string]any:
		open, close, dict, isDict = "{", "}", x, true
	default:
		if !isReprScalar(v) {
			if pv, ok := pythonView(v); ok {
				s.value(pv)
				return
			}
		}
		if s.next() {
			s.emit(s.scalar(v))
		}
		return
	}
	if (s.maxlevels > 0 && s.level >= s.maxlevels) || s.level >= MaxDepth {
		if s.next() {
			s.emit(open + "..." + close)
		}
		return
	}
	id := containerID(v)
	if slices.Contains(s.active, id) {
		// Celery shows <Recursion on list with id=...>; ids mean nothing
		// here, so this is shown like a level that is too deep.
		if s.next() {
			s.emit(open + "..." + close)
		}
		return
	}
	if !s.next() {
		return
	}
	s.active = append(s.active, id)
	defer func() { s.active = s.active[:len(s.active)-1] }()
	s.emit(open)
	s.level++
	if isDict {
		for i, k := range sortedKeys(dict) {
			if i > 0 {
				if !s.next() {
					break
				}
				s.emit(", ")
			}
			if !s.next() {
				break
			}
			s.emit(s.scalar(k))
			if !s.next() {
				break
			}
			s.emit(": ")
			if s.value(dict[k]); s.stopped {
				break
			}
		}
	} else {
		for i, x := range list {
			if i > 0 {
				if !s.next() {
					break
				}
				s.emit(", ")
			}
			if s.value(x); s.stopped {
				break
			}
		}
	}
	// Closing brackets are always written, even past maxlen.
	s.level--
	s.emit(close)
}

// isReprScalar reports whether v is a non-container value that Decode can
// return.
func isReprScalar(v any) bool {
	switch v.(type) {
	case nil, bool, string, []byte, json.Number, float64, time.Time, Date, TimeOfDay, Decimal, uuid.UUID:
		return true
	}
	return false
}

// scalar renders a non-container value as saferepr does, truncated to the
// remaining length.
func (s *safeRepr) scalar(v any) string {
	limit := 0
	if s.limited {
		limit = s.maxlen
	}
	switch x := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(Truncate(x, limit), "'", `\'`) + "'"
	case []byte:
		suffix := ""
		if limit > 0 && len(x) > limit {
			x, suffix = x[:limit], "..."
		}
		text := string(x)
		if !utf8.Valid(x) {
			text = string(appendHex(nil, x))
		}
		return "b'" + text + suffix + "'"
	}
	return Truncate(string(appendRepr(nil, v, nil)), limit)
}

// TypeName returns the Python type name of a decoded value, as Python's
// type(v).__name__ would say it: NoneType, bool, int, float, str, list,
// dict, datetime, date, time, UUID, Decimal, bytes.
func TypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case json.Number:
		if strings.ContainsAny(string(x), ".eEnN") {
			return "float"
		}
		return "int"
	case float64, float32:
		return "float"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "int"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	case time.Time:
		return "datetime"
	case Date:
		return "date"
	case TimeOfDay:
		return "time"
	case uuid.UUID:
		return "UUID"
	case Decimal:
		return "Decimal"
	case []byte:
		return "bytes"
	}
	return fmt.Sprintf("%T", v)
}
