package builtin

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/worker"
)

// Number is a Python number: an arbitrary-precision int or a float, so
// tasks.add(2, 3) returns 5 (an int) and tasks.add(0.5, 1) returns 1.5, as
// in Python.
type Number struct {
	i *big.Int
	f float64
}

// UnmarshalJSON accepts any JSON number.
func (n *Number) UnmarshalJSON(b []byte) error {
	s := string(b)
	if !strings.ContainsAny(s, ".eE") && !strings.Contains(s, "NaN") && !strings.Contains(s, "Infinity") {
		i, ok := new(big.Int).SetString(s, 10)
		if ok {
			n.i = i
			return nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return worker.NewPyError("TypeError", fmt.Sprintf("unsupported operand: %s is not a number", s))
	}
	n.i, n.f = nil, f
	return nil
}

// MarshalJSON writes an int exactly and a float as Python's json.dumps
// does (2.0, 1000000.0, 1e+16, NaN, Infinity), so Python reads a float.
func (n Number) MarshalJSON() ([]byte, error) {
	if n.i != nil {
		return []byte(n.i.String()), nil
	}
	return pyjson.Encode(n.f)
}

// Float64 returns the number as a float.
func (n Number) Float64() (float64, big.Accuracy) {
	if n.i != nil {
		return new(big.Float).SetInt(n.i).Float64()
	}
	return n.f, big.Exact
}

// pyStr is Python's str() of the number (2, 2.0, 1e+16, nan, inf).
func (n Number) pyStr() string {
	if n.i != nil {
		return n.i.String()
	}
	return pyjson.PyRepr(n.f)
}

func (n Number) String() string {
	b, _ := n.MarshalJSON()
	return string(b)
}

func (n Number) op(m Number, iop func(z, x, y *big.Int) *big.Int, fop func(x, y float64) float64) (Number, error) {
	if n.i != nil && m.i != nil {
		return Number{i: iop(new(big.Int), n.i, m.i)}, nil
	}
	a, _ := n.Float64()
	b, _ := m.Float64()
	return Number{f: fop(a, b)}, nil
}

// Add returns n+m.
func (n Number) Add(m Number) (Number, error) {
	return n.op(m, (*big.Int).Add, func(x, y float64) float64 { return x + y })
}

// Mul returns n*m.
func (n Number) Mul(m Number) (Number, error) {
	return n.op(m, (*big.Int).Mul, func(x, y float64) float64 { return x * y })
}

var _ json.Marshaler = Number{}

// asNumber converts a decoded JSON value to a Number.
func asNumber(v any) (Number, bool) {
	var n Number
	switch x := v.(type) {
	case json.Number:
		return n, n.UnmarshalJSON([]byte(x)) == nil
	case float64:
		return Number{f: x}, true
	}
	return n, false
}

func operandError(op string, x, y any) error {
	return worker.NewPyError("TypeError", fmt.Sprintf("unsupported operand type(s) for %s: '%s' and '%s'", op, pyjson.TypeName(x), pyjson.TypeName(y)))
}

// pyAdd is Python's x + y for the JSON types: numbers add, strings and
// lists concatenate (tasks.add in Python is `return x + y`).
func pyAdd(x, y any) (any, error) {
	switch a := x.(type) {
	case string:
		if b, ok := y.(string); ok {
			return a + b, nil
		}
	case []any:
		if b, ok := y.([]any); ok {
			return append(a[:len(a):len(a)], b...), nil
		}
	default:
		n, ok1 := asNumber(x)
		m, ok2 := asNumber(y)
		if ok1 && ok2 {
			return n.Add(m)
		}
	}
	return nil, operandError("+", x, y)
}

// maxRepeat bounds sequence repetition so a task cannot exhaust memory.
const maxRepeat = 64 << 20

// pyMul is Python's x * y for the JSON types: numbers multiply, a string
// or list times an int repeats. A repetition whose JSON would be over
// o.MaxResult bytes fails before it is built.
func pyMul(o *options, x, y any) (any, error) {
	origX, origY := x, y
	if n, ok := asNumber(x); ok {
		if m, ok := asNumber(y); ok {
			return n.Mul(m)
		}
		x, y = y, x // int * sequence
	}
	count, ok := asNumber(y)
	if !ok || count.i == nil {
		return nil, operandError("*", origX, origY)
	}
	times := 0
	if count.i.Sign() > 0 {
		if !count.i.IsInt64() || count.i.Int64() > maxRepeat {
			return nil, worker.NewPyError("MemoryError", "repeated sequence too large")
		}
		times = int(count.i.Int64())
	}
	switch a := x.(type) {
	case string:
		if len(a)*times > maxRepeat {
			return nil, worker.NewPyError("MemoryError", "repeated sequence too large")
		}
		if n := len(a)*times + 2; o.MaxResult > 0 && n > o.MaxResult {
			return nil, o.TooLarge(n)
		}
		return strings.Repeat(a, times), nil
	case []any:
		if len(a)*times > maxRepeat {
			return nil, worker.NewPyError("MemoryError", "repeated sequence too large")
		}
		if o.MaxResult > 0 && times > 0 && len(a) > 0 {
			// Each repetition is the list's elements plus a ", ".
			if b, err := pyjson.Encode(a); err == nil {
				if per := len(b); per > o.MaxResult/times {
					return nil, o.TooLarge(per * times)
				}
			}
		}
		out := make([]any, 0, len(a)*times)
		for range times {
			out = append(out, a...)
		}
		return out, nil
	}
	return nil, operandError("*", origX, origY)
}
