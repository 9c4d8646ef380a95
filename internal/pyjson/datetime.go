package pyjson

import (
	"fmt"
	"time"
)

// Date is a calendar date, the value of a kombu "date" marker
// (Python datetime.date).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date part of t, in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// String returns the date as Python's date.isoformat() does: "YYYY-MM-DD".
func (d Date) String() string {
	return string(d.appendISO(make([]byte, 0, 10)))
}

func (d Date) appendISO(b []byte) []byte {
	b = appendPadded(b, d.Year, 4)
	b = append(b, '-')
	b = appendPadded(b, int(d.Month), 2)
	b = append(b, '-')
	return appendPadded(b, d.Day, 2)
}

// valid reports whether Python's datetime.date accepts d.
func (d Date) valid() error {
	if d.Year < 1 || d.Year > 9999 {
		return fmt.Errorf("year %d is out of range 1..9999", d.Year)
	}
	if d.Month < 1 || d.Month > 12 {
		return fmt.Errorf("month %d is out of range 1..12", int(d.Month))
	}
	if dim := daysIn(d.Year, int(d.Month)); d.Day < 1 || d.Day > dim {
		return fmt.Errorf("day %d is out of range 1..%d", d.Day, dim)
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler ("YYYY-MM-DD"), so that a
// Date inside values handled by encoding/json becomes a plain string.
func (d Date) MarshalText() ([]byte, error) {
	if err := d.valid(); err != nil {
		return nil, fmt.Errorf("pyjson: invalid Date: %s", err)
	}
	return d.appendISO(nil), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. Like kombu's "date"
// decoder it accepts anything Python's datetime.fromisoformat accepts and
// keeps the date part.
func (d *Date) UnmarshalText(text []byte) error {
	dt, err := parseISODateTime(string(text))
	if err != nil {
		return fmt.Errorf("pyjson: invalid date %q: %w", text, err)
	}
	*d = Date{Year: dt.year, Month: time.Month(dt.month), Day: dt.day}
	return nil
}

// TimeOfDay is a wall-clock time, the value of a kombu "time" marker
// (Python datetime.time). Python keeps microseconds only; finer precision
// is dropped when the value is encoded.
type TimeOfDay struct {
	Hour, Minute, Second, Nanosecond int
	// Offset is the UTC offset in seconds east of UTC, or nil for a naive
	// time (Python tzinfo=None).
	Offset *int
}

// String returns the time as Python's time.isoformat() does:
// "HH:MM:SS", then ".ffffff" when the microseconds are not zero, then the
// UTC offset ("+HH:MM", with ":SS" when needed) when Offset is set.
func (t TimeOfDay) String() string {
	return string(t.appendISO(make([]byte, 0, 21)))
}

func (t TimeOfDay) appendISO(b []byte) []byte {
	b = appendPadded(b, t.Hour, 2)
	b = append(b, ':')
	b = appendPadded(b, t.Minute, 2)
	b = append(b, ':')
	b = appendPadded(b, t.Second, 2)
	if us := t.Nanosecond / 1000; us != 0 {
		b = append(b, '.')
		b = appendPadded(b, us, 6)
	}
	if t.Offset != nil {
		b = appendOffset(b, *t.Offset)
	}
	return b
}

// valid reports whether Python's datetime.time accepts t.
func (t TimeOfDay) valid() error {
	switch {
	case t.Hour < 0 || t.Hour > 23:
		return fmt.Errorf("hour %d is out of range 0..23", t.Hour)
	case t.Minute < 0 || t.Minute > 59:
		return fmt.Errorf("minute %d is out of range 0..59", t.Minute)
	case t.Second < 0 || t.Second > 59:
		return fmt.Errorf("second %d is out of range 0..59", t.Second)
	case t.Nanosecond < 0 || t.Nanosecond > 999999999:
		return fmt.Errorf("nanosecond %d is out of range", t.Nanosecond)
	case t.Offset != nil && (*t.Offset <= -86400 || *t.Offset >= 86400):
		return fmt.Errorf("UTC offset %ds is not strictly between -24h and 24h", *t.Offset)
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler (Python isoformat text).
func (t TimeOfDay) MarshalText() ([]byte, error) {
	if err := t.valid(); err != nil {
		return nil, fmt.Errorf("pyjson: invalid TimeOfDay: %s", err)
	}
	return t.appendISO(nil), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, accepting what Python's
// time.fromisoformat accepts.
func (t *TimeOfDay) UnmarshalText(text []byte) error {
	v, err := parseISOTime(string(text))
	if err != nil {
		return fmt.Errorf("pyjson: invalid time %q: %w", text, err)
	}
	*t = v
	return nil
}

// appendPadded appends the decimal form of n zero-padded to width digits.
func appendPadded(b []byte, n, width int) []byte {
	u := uint64(n)
	if n < 0 {
		b = append(b, '-')
		u = -u
	}
	var tmp [24]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + u%10)
		u /= 10
		width--
		if u == 0 && (width <= 0 || i == 0) {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// appendOffset appends a UTC offset the way Python formats timezone offsets
// in isoformat(): "+HH:MM", plus ":SS" when the seconds are not zero.
func appendOffset(b []byte, off int) []byte {
	if off < 0 {
		b = append(b, '-')
		off = -off
	} else {
		b = append(b, '+')
	}
	b = appendPadded(b, off/3600, 2)
	b = append(b, ':')
	b = appendPadded(b, off/60%60, 2)
	if s := off % 60; s != 0 {
		b = append(b, ':')
		b = appendPadded(b, s, 2)
	}
	return b
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
