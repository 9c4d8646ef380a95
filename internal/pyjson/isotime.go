package pyjson

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// This file implements the ISO 8601 subset accepted by CPython 3.11+'s
// datetime.fromisoformat and time.fromisoformat (the C implementation in
// _datetimemodule.c, which is what kombu ends up calling), and the
// isoformat() output that kombu sends.

// isoDateTime holds the fields of a parsed Python datetime.
type isoDateTime struct {
	year, month, day            int
	hour, minute, second, micro int
	hasTZ                       bool
	offset                      int // seconds east of UTC, when hasTZ
}

var errISO = errors.New("invalid isoformat string")

// charAt returns s[i], or 0 past the end (C strings are NUL-terminated and
// the CPython parser relies on that).
func charAt(s string, i int) byte {
	if i < len(s) && i >= 0 {
		return s[i]
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digitsAt parses exactly n ASCII digits at s[p:].
func digitsAt(s string, p, n int) (val, next int, ok bool) {
	for i := 0; i < n; i++ {
		c := charAt(s, p+i)
		if !isDigit(c) {
			return 0, p, false
		}
		val = val*10 + int(c-'0')
	}
	return val, p + n, true
}

// isoSeparator returns the byte index of the date/time separator, following
// CPython's _find_isoformat_datetime_separator.
func isoSeparator(s string) int {
	n := len(s)
	if n == 7 {
		return 7
	}
	if s[4] == '-' {
		if s[5] == 'W' {
			if n > 8 && s[8] == '-' {
				if n > 10 && isDigit(s[10]) {
					return 8
				}
				return 10
			}
			return 8
		}
		return 10
	}
	if s[4] == 'W' {
		idx := 7
		for idx < n && isDigit(s[idx]) {
			idx++
		}
		if idx < 9 {
			return idx
		}
		if idx%2 == 0 {
			return 7
		}
		return 8
	}
	return 8
}

// parseISODate parses the date part s[:end] like CPython's
// parse_isoformat_date (which may peek past end, as the C code does).
func parseISODate(s string) (y, m, d int, err error) {
	y, p, ok := digitsAt(s, 0, 4)
	if !ok {
		return 0, 0, 0, errISO
	}
	sep := charAt(s, p) == '-'
	if sep {
		p++
	}
	if charAt(s, p) == 'W' {
		p++
		week, np, ok := digitsAt(s, p, 2)
		if !ok {
			return 0, 0, 0, errISO
		}
		p = np
		wday := 1
		if p < len(s) {
			if sep {
				if s[p] != '-' {
					return 0, 0, 0, errISO
				}
				p++
			}
			if wday, _, ok = digitsAt(s, p, 1); !ok {
				return 0, 0, 0, errISO
			}
		}
		return isoWeekToDate(y, week, wday)
	}
	m, p, ok = digitsAt(s, p, 2)
	if !ok {
		return 0, 0, 0, errISO
	}
	if sep {
		if charAt(s, p) != '-' {
			return 0, 0, 0, errISO
		}
		p++
	}
	d, _, ok = digitsAt(s, p, 2)
	if !ok {
		return 0, 0, 0, errISO
	}
	return y, m, d, nil
}

func isoWeekToDate(year, week, day int) (int, int, int, error) {
	if year < 1 || year > 9999 {
		return 0, 0, 0, fmt.Errorf("year %d is out of range", year)
	}
	if week < 1 || week > 53 {
		return 0, 0, 0, fmt.Errorf("invalid week: %d", week)
	}
	jan1 := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).Weekday()
	if week == 53 && !(jan1 == time.Thursday || (jan1 == time.Wednesday && isLeap(year))) {
		return 0, 0, 0, fmt.Errorf("invalid week: %d", week)
	}
	if day < 1 || day > 7 {
		return 0, 0, 0, fmt.Errorf("invalid weekday: %d (range is [1, 7])", day)
	}
	jan4 := time.Date(year, 1, 4, 0, 0, 0, 0, time.UTC)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	t := monday.AddDate(0, 0, (week-1)*7+day-1)
	return t.Year(), int(t.Month()), t.Day(), nil
}

// parseHMSF mirrors CPython's parse_hh_mm_ss_ff on s[start:end]. It returns
// rv < 0 on failure, 1 when unparsed characters follow, 0 otherwise.
func parseHMSF(s string, start, end int) (h, m, sec, us, rv int) {
	var vals [3]int
	p := start
	hasSep := true
	for i := 0; i < 3; i++ {
		v, np, ok := digitsAt(s, p, 2)
		if !ok {
			return 0, 0, 0, 0, -3
		}
		vals[i] = v
		p = np
		c := charAt(s, p)
		p++
		if i == 0 {
			hasSep = c == ':'
		}
		if p >= end {
			if c != 0 {
				rv = 1
			}
			return vals[0], vals[1], vals[2], 0, rv
		}
		if hasSep && c == ':' {
			continue
		}
		if c == '.' || c == ',' {
			break
		}
		if !hasSep {
			p--
			continue
		}
		return 0, 0, 0, 0, -4
	}
	// Fractional seconds: up to six digits are used, the rest skipped.
	n := min(end-p, 6)
	v, np, ok := digitsAt(s, p, n)
	if !ok {
		return 0, 0, 0, 0, -3
	}
	for i := n; i < 6; i++ {
		v *= 10
	}
	us = v
	p = np
	for isDigit(charAt(s, p)) {
		p++
	}
	if charAt(s, p) != 0 {
		rv = 1
	}
	return vals[0], vals[1], vals[2], us, rv
}

// parseISOTimePart mirrors CPython's parse_isoformat_time. The UTC offset's
// sub-second part, which Python allows, is dropped.
func parseISOTimePart(s string) (h, m, sec, us int, hasTZ bool, off int, err error) {
	tz := 0
	for tz < len(s) && s[tz] != 'Z' && s[tz] != '+' && s[tz] != '-' {
		tz++
	}
	if len(s) == 0 {
		return 0, 0, 0, 0, false, 0, errISO
	}
	h, m, sec, us, rv := parseHMSF(s, 0, tz)
	if rv < 0 {
		return 0, 0, 0, 0, false, 0, errISO
	}
	if tz == len(s) {
		if rv == 1 {
			return 0, 0, 0, 0, false, 0, errISO
		}
		return h, m, sec, us, false, 0, nil
	}
	if s[tz] == 'Z' {
		if tz+1 != len(s) {
			return 0, 0, 0, 0, false, 0, errISO
		}
		return h, m, sec, us, true, 0, nil
	}
	sign := 1
	if s[tz] == '-' {
		sign = -1
	}
	th, tm, ts, _, rv := parseHMSF(s, tz+1, len(s))
	if rv != 0 {
		return 0, 0, 0, 0, false, 0, errISO
	}
	off = sign * (th*3600 + tm*60 + ts)
	if off <= -86400 || off >= 86400 {
		return 0, 0, 0, 0, false, 0, fmt.Errorf("UTC offset %ds is not strictly between -24h and 24h", off)
	}
	return h, m, sec, us, true, off, nil
}

func checkClock(h, m, s int) error {
	switch {
	case h > 23:
		return errors.New("hour must be in 0..23")
	case m > 59:
		return errors.New("minute must be in 0..59")
	case s > 59:
		return errors.New("second must be in 0..59")
	}
	return nil
}

// parseISODateTime parses s like Python's datetime.fromisoformat.
func parseISODateTime(s string) (isoDateTime, error) {
	var dt isoDateTime
	if utf8.RuneCountInString(s) < 7 {
		return dt, errISO
	}
	sepAt := min(isoSeparator(s), len(s))
	y, mo, d, err := parseISODate(s[:sepAt])
	if err != nil {
		return dt, err
	}
	dt.year, dt.month, dt.day = y, mo, d
	if err := (Date{Year: y, Month: time.Month(mo), Day: d}).valid(); err != nil {
		return dt, err
	}
	if sepAt < len(s) {
		_, size := utf8.DecodeRuneInString(s[sepAt:])
		h, m, sec, us, hasTZ, off, err := parseISOTimePart(s[sepAt+size:])
		if err != nil {
			return dt, err
		}
		if err := checkClock(h, m, sec); err != nil {
			return dt, err
		}
		dt.hour, dt.minute, dt.second, dt.micro = h, m, sec, us
		dt.hasTZ, dt.offset = hasTZ, off
	}
	return dt, nil
}

// time converts dt to a time.Time. Naive datetimes are taken to be UTC;
// a zero offset is time.UTC.
func (dt isoDateTime) time() time.Time {
	loc := time.UTC
	if dt.hasTZ && dt.offset != 0 {
		loc = time.FixedZone("", dt.offset)
	}
	return time.Date(dt.year, time.Month(dt.month), dt.day, dt.hour, dt.minute, dt.second, dt.micro*1000, loc)
}

// parseISOTime parses s like Python's time.fromisoformat.
func parseISOTime(s string) (TimeOfDay, error) {
	if len(s) > 0 && s[0] == 'T' {
		s = s[1:]
	}
	h, m, sec, us, hasTZ, off, err := parseISOTimePart(s)
	if err != nil {
		return TimeOfDay{}, err
	}
	if err := checkClock(h, m, sec); err != nil {
		return TimeOfDay{}, err
	}
	t := TimeOfDay{Hour: h, Minute: m, Second: sec, Nanosecond: us * 1000}
	if hasTZ {
		t.Offset = &off
	}
	return t, nil
}

// appendISODateTime appends t as Python's datetime.isoformat() writes an
// aware datetime: microseconds only when non-zero, offset always present.
func appendISODateTime(b []byte, t time.Time) ([]byte, error) {
	y, mo, d := t.Date()
	if y < 1 || y > 9999 {
		return b, fmt.Errorf("year %d is outside Python's datetime range 1..9999", y)
	}
	_, off := t.Zone()
	if off <= -86400 || off >= 86400 {
		return b, fmt.Errorf("UTC offset %ds is not strictly between -24h and 24h", off)
	}
	b = Date{Year: y, Month: mo, Day: d}.appendISO(b)
	b = append(b, 'T')
	h, m, s := t.Clock()
	return TimeOfDay{Hour: h, Minute: m, Second: s, Nanosecond: t.Nanosecond(), Offset: &off}.appendISO(b), nil
}
