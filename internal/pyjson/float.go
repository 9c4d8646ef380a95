package pyjson

import (
	"math"
	"strconv"
)

// appendFloatJSON appends f the way Python's json.dumps writes a float:
// repr(f) for finite values, and the bare tokens NaN, Infinity, -Infinity.
// bitSize 32 picks the shortest decimal that round-trips a float32.
func appendFloatJSON(b []byte, f float64, bitSize int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	return appendFloatRepr(b, f, bitSize)
}

// appendFloatRepr appends Python's repr() of a finite float: the shortest
// round-tripping digits, in positional notation when the decimal exponent
// is in [-4, 16) (always with a fractional part, e.g. "2.0"), and as
// "1e+16" / "1.5e-05" style scientific notation otherwise.
func appendFloatRepr(b []byte, f float64, bitSize int) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	var buf [40]byte
	// 'e' with -1 precision gives the shortest digits: "-d.ddddde±XX".
	s := strconv.AppendFloat(buf[:0], f, 'e', -1, bitSize)
	if s[0] == '-' {
		b = append(b, '-')
		s = s[1:]
	}
	// Split into digits and exponent.
	var digits [24]byte
	nd := 0
	i := 0
	for ; i < len(s) && s[i] != 'e'; i++ {
		if s[i] != '.' {
			digits[nd] = s[i]
			nd++
		}
	}
	exp := 0
	eneg := s[i+1] == '-'
	for j := i + 2; j < len(s); j++ {
		exp = exp*10 + int(s[j]-'0')
	}
	if eneg {
		exp = -exp
	}
	d := digits[:nd]
	if exp < -4 || exp >= 16 {
		b = append(b, d[0])
		if nd > 1 {
			b = append(b, '.')
			b = append(b, d[1:]...)
		}
		b = append(b, 'e')
		if exp < 0 {
			b = append(b, '-')
			exp = -exp
		} else {
			b = append(b, '+')
		}
		if exp < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(exp), 10)
	}
	if exp < 0 {
		b = append(b, "0."...)
		for k := -1; k > exp; k-- {
			b = append(b, '0')
		}
		return append(b, d...)
	}
	if nd <= exp+1 {
		b = append(b, d...)
		for k := nd; k <= exp; k++ {
			b = append(b, '0')
		}
		return append(b, ".0"...)
	}
	b = append(b, d[:exp+1]...)
	b = append(b, '.')
	return append(b, d[exp+1:]...)
}
