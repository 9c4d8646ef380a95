package builtin

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"

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

// MarshalJSON writes an int exactly and a float with a fractional part or
// exponent so Python reads a float.
func (n Number) MarshalJSON() ([]byte, error) {
	if n.i != nil {
		return []byte(n.i.String()), nil
	}
	s := strconv.FormatFloat(n.f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return []byte(s), nil
}

// Float64 returns the number as a float.
func (n Number) Float64() (float64, big.Accuracy) {
	if n.i != nil {
		return new(big.Float).SetInt(n.i).Float64()
	}
	return n.f, big.Exact
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
