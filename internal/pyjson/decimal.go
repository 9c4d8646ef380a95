package pyjson

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
)

// decimalParts is a parsed Python decimal.Decimal.
type decimalParts struct {
	neg  bool
	kind byte   // 0 finite, 'i' Infinity, 'n' NaN, 's' sNaN
	coef string // finite: digits without leading zeros ("0" for zero); NaN: payload without leading zeros
	exp  int64  // finite only: value = coef * 10**exp
}

// maxDecimalExp bounds exponents so that arithmetic on them cannot overflow
// (Python's own limit, MAX_EMAX, is 999999999999999999).
const maxDecimalExp = 999999999999999999

var errDecimalSyntax = errors.New("invalid decimal literal")

// decimalText holds the pieces of a decimal literal, as slices of it.
type decimalText struct {
	neg           bool
	kind          byte   // as in decimalParts
	intPart, frac string // finite: digits before and after the point
	payload       string // NaN digits
	exp           int64  // the written exponent
}

// scanDecimal checks s against Python's Decimal(str) syntax without
// allocating (unless s contains underscores): surrounding whitespace is
// ignored, underscores are dropped, infinities and NaNs are
// case-insensitive. (Python also accepts non-ASCII Unicode decimal digits;
// this parser does not.)
func scanDecimal(s string) (decimalText, error) {
	var p decimalText
	s = strings.TrimFunc(s, unicode.IsSpace)
	if strings.IndexByte(s, '_') >= 0 {
		s = strings.ReplaceAll(s, "_", "")
	}
	if s != "" && (s[0] == '+' || s[0] == '-') {
		p.neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return p, errDecimalSyntax
	}
	if c := s[0] | 0x20; c == 'i' || c == 'n' || c == 's' {
		switch {
		case strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity"):
			p.kind = 'i'
			return p, nil
		case len(s) >= 3 && strings.EqualFold(s[:3], "nan"):
			p.kind, s = 'n', s[3:]
		case len(s) >= 4 && strings.EqualFold(s[:4], "snan"):
			p.kind, s = 's', s[4:]
		default:
			return p, errDecimalSyntax
		}
		for i := 0; i < len(s); i++ {
			if !isDigit(s[i]) {
				return p, errDecimalSyntax
			}
		}
		p.payload = s
		return p, nil
	}
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	p.intPart = s[:i]
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		p.frac = s[i+1 : j]
		i = j
	}
	if p.intPart == "" && p.frac == "" {
		return p, errDecimalSyntax
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return p, errDecimalSyntax
		}
		for ; i < len(s); i++ {
			if !isDigit(s[i]) {
				return p, errDecimalSyntax
			}
			p.exp = p.exp*10 + int64(s[i]-'0')
			if p.exp > maxDecimalExp {
				return p, errors.New("decimal exponent out of range")
			}
		}
		if eneg {
			p.exp = -p.exp
		}
	}
	if i != len(s) {
		return p, errDecimalSyntax
	}
	return p, nil
}

// parseDecimal parses s as Python's Decimal(str) constructor does (see
// scanDecimal).
func parseDecimal(s string) (decimalParts, error) {
	t, err := scanDecimal(s)
	if err != nil {
		return decimalParts{}, err
	}
	p := decimalParts{neg: t.neg, kind: t.kind}
	if t.kind != 0 {
		p.coef = strings.TrimLeft(t.payload, "0")
		return p, nil
	}
	p.coef = strings.TrimLeft(t.intPart, "0")
	if t.frac != "" {
		p.coef = strings.TrimLeft(t.intPart+t.frac, "0")
	}
	if p.coef == "" {
		p.coef = "0"
	}
	p.exp = t.exp - int64(len(t.frac))
	return p, nil
}

// String formats p as Python's str(Decimal) (to-scientific-string).
func (p decimalParts) String() string {
	var b []byte
	if p.neg {
		b = append(b, '-')
	}
	switch p.kind {
	case 'i':
		return string(append(b, "Infinity"...))
	case 'n':
		return string(append(append(b, "NaN"...), p.coef...))
	case 's':
		return string(append(append(b, "sNaN"...), p.coef...))
	}
	n := int64(len(p.coef))
	left := p.exp + n // digits to the left of the decimal point
	dot := int64(1)   // scientific notation: one digit before the point
	if p.exp <= 0 && left > -6 {
		dot = left
	}
	switch {
	case dot <= 0:
		b = append(b, "0."...)
		for i := int64(0); i < -dot; i++ {
			b = append(b, '0')
		}
		b = append(b, p.coef...)
	case dot >= n:
		b = append(b, p.coef...)
		for i := n; i < dot; i++ {
			b = append(b, '0')
		}
	default:
		b = append(b, p.coef[:dot]...)
		b = append(b, '.')
		b = append(b, p.coef[dot:]...)
	}
	if left != dot {
		b = append(b, 'E')
		if left-dot > 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, left-dot, 10)
	}
	return string(b)
}

// float64 converts like Python's float(Decimal).
func (p decimalParts) float64() (float64, error) {
	switch p.kind {
	case 'i':
		if p.neg {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	case 'n':
		return math.NaN(), nil
	case 's':
		return 0, errors.New("cannot convert signaling NaN to float")
	}
	s := p.coef + "e" + strconv.FormatInt(p.exp, 10)
	if p.neg {
		s = "-" + s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, err
	}
	return f, nil
}

// integer returns the decimal's value as an integer text (optionally
// signed) when it is finite and integral, and ok=false otherwise. Values
// with more than maxDigits digits are reported as not ok with big=true.
func (p decimalParts) integer(maxDigits int) (text string, ok, tooBig bool) {
	if p.kind != 0 {
		return "", false, false
	}
	coef, exp := p.coef, p.exp
	if coef == "0" {
		return "0", true, false
	}
	for exp < 0 && len(coef) > 1 && coef[len(coef)-1] == '0' {
		coef = coef[:len(coef)-1]
		exp++
	}
	if exp < 0 {
		return "", false, false
	}
	if exp > int64(maxDigits) || int64(len(coef))+exp > int64(maxDigits) {
		return "", false, true
	}
	text = coef + strings.Repeat("0", int(exp))
	if p.neg {
		text = "-" + text
	}
	return text, true, false
}

// decimalFromFloat returns Decimal(f) as Python computes it: the exact
// binary value of f.
func decimalFromFloat(f float64) decimalParts {
	var p decimalParts
	p.neg = math.Signbit(f)
	switch {
	case math.IsNaN(f):
		p.neg = false
		p.kind = 'n'
		return p
	case math.IsInf(f, 0):
		p.kind = 'i'
		return p
	}
	bits := math.Float64bits(f)
	e := int((bits >> 52) & 0x7ff)
	m := bits & (1<<52 - 1)
	if e == 0 {
		e = 1
	} else {
		m |= 1 << 52
	}
	e -= 1075
	if m == 0 {
		p.coef = "0"
		return p
	}
	for m&1 == 0 && e < 0 {
		m >>= 1
		e++
	}
	c := new(big.Int).SetUint64(m)
	if e >= 0 {
		c.Lsh(c, uint(e))
	} else {
		c.Mul(c, new(big.Int).Exp(big.NewInt(5), big.NewInt(int64(-e)), nil))
		p.exp = int64(e)
	}
	p.coef = c.String()
	return p
}

// decimalFromNumber returns Decimal(x) for the Python value x that the JSON
// number text s decodes to (int or float).
func decimalFromNumber(s string) (decimalParts, error) {
	if isIntegerText(s) {
		p := decimalParts{coef: strings.TrimPrefix(s, "-")}
		p.neg = len(s) > 0 && s[0] == '-' && p.coef != "0"
		return p, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return decimalParts{}, err
	}
	return decimalFromFloat(f), nil
}

// isIntegerText reports whether the (valid) JSON number text s has no
// fraction or exponent, i.e. Python would decode it as an int.
func isIntegerText(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', 'e', 'E':
			return false
		}
	}
	return true
}

// Decimal is the text of a Python decimal.Decimal, the value of a kombu
// "decimal" marker, e.g. "3.14", "-1E+2", "NaN" or "-Infinity".
//
// Decode stores the canonical str(Decimal(...)) form, which is exactly the
// text Python sends. Encode sends the text unchanged after checking that
// Python's Decimal constructor accepts it.
type Decimal string

// String returns the decimal's text.
func (d Decimal) String() string { return string(d) }

// Float64 converts the decimal to the nearest float64, like Python's
// float(Decimal). A signalling NaN is an error, as in Python.
func (d Decimal) Float64() (float64, error) {
	p, err := parseDecimal(string(d))
	if err != nil {
		return 0, fmt.Errorf("pyjson: invalid Decimal %q: %w", string(d), err)
	}
	return p.float64()
}

// MarshalText implements encoding.TextMarshaler.
func (d Decimal) MarshalText() ([]byte, error) {
	if _, err := parseDecimal(string(d)); err != nil {
		return nil, fmt.Errorf("pyjson: invalid Decimal %q: %w", string(d), err)
	}
	return []byte(d), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. The text is validated
// and stored in canonical form.
func (d *Decimal) UnmarshalText(text []byte) error {
	p, err := parseDecimal(string(text))
	if err != nil {
		return fmt.Errorf("pyjson: invalid Decimal %q: %w", text, err)
	}
	*d = Decimal(p.String())
	return nil
}
