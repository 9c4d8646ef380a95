package beat

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Schedule says when an entry is due.
type Schedule interface {
	// Next returns the first due time strictly after last (the previous
	// due time, or the time the entry was first seen). The zero time
	// means never.
	Next(last time.Time) time.Time
	// String describes the schedule for logs and --dry-run.
	String() string
}

// Interval is a schedule that is due every D after the previous due time
// (Celery's schedule(run_every=D), the `every:` key of a schedule file).
type Interval struct{ D time.Duration }

// Every returns an Interval schedule. d must be positive.
func Every(d time.Duration) Interval { return Interval{D: d} }

// Next returns last + D.
func (s Interval) Next(last time.Time) time.Time {
	if s.D <= 0 {
		return time.Time{}
	}
	return last.Add(s.D)
}

func (s Interval) String() string { return "every " + s.D.String() }

// Crontab fields as Celery names them (the keys of a crontab: mapping and
// the Field of a FieldError).
const (
	FieldMinute      = "minute"
	FieldHour        = "hour"
	FieldDayOfWeek   = "day_of_week"
	FieldDayOfMonth  = "day_of_month"
	FieldMonthOfYear = "month_of_year"
)

// FieldError is a bad crontab field.
type FieldError struct {
	Field string // e.g. "minute"
	Value string // the offending text
	Err   error  // what is wrong with it
}

func (e *FieldError) Error() string { return "field " + e.Field + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// ErrNeverDue is returned for a crontab that matches no date at all
// (e.g. day_of_month 30 in month_of_year 2).
var ErrNeverDue = errors.New("matches no date")

// Crontab is a Celery crontab schedule: minute, hour, day_of_week
// (0 = Sunday), day_of_month and month_of_year, evaluated in a time zone.
// Like Celery (and unlike Vixie cron), a day must match day_of_month AND
// day_of_week AND month_of_year.
//
// Wall-clock times are mapped to instants as Python's zoneinfo does with
// fold=0: a time skipped by a spring-forward change runs as if the clock
// had not changed yet (02:30 in Europe/Berlin on the last Sunday of March
// runs at 03:30 CEST), a time that occurs twice at a fall-back change runs
// once, at its first occurrence. A time that two wall-clock times map to
// runs once.
type Crontab struct {
	minute uint64 // bits 0-59
	hour   uint32 // bits 0-23
	dow    uint8  // bits 0-6
	dom    uint32 // bits 1-31
	month  uint16 // bits 1-12
	loc    *time.Location
	spec   [5]string // minute, hour, day_of_week, day_of_month, month_of_year
}

// CrontabSpec holds the five fields as text; an empty field means "*".
type CrontabSpec struct {
	Minute, Hour, DayOfWeek, DayOfMonth, MonthOfYear string
}

type fieldDef struct {
	name     string
	min, max int
	names    []string
}

var (
	dayNames   = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	fullDays   = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
	fullMonths = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

	defMinute = fieldDef{FieldMinute, 0, 59, nil}
	defHour   = fieldDef{FieldHour, 0, 23, nil}
	defDOW    = fieldDef{FieldDayOfWeek, 0, 6, dayNames}
	defDOM    = fieldDef{FieldDayOfMonth, 1, 31, nil}
	defMonth  = fieldDef{FieldMonthOfYear, 1, 12, monthNames}
)

// NewCrontab parses spec in the time zone loc (nil = UTC). Errors are
// *FieldError, or wrap ErrNeverDue.
func NewCrontab(spec CrontabSpec, loc *time.Location) (*Crontab, error) {
	if loc == nil {
		loc = time.UTC
	}
	c := &Crontab{loc: loc}
	fields := []struct {
		def fieldDef
		src string
		set func(uint64)
	}{
		{defMinute, spec.Minute, func(b uint64) { c.minute = b }},
		{defHour, spec.Hour, func(b uint64) { c.hour = uint32(b) }},
		{defDOW, spec.DayOfWeek, func(b uint64) { c.dow = uint8(b) }},
		{defDOM, spec.DayOfMonth, func(b uint64) { c.dom = uint32(b) }},
		{defMonth, spec.MonthOfYear, func(b uint64) { c.month = uint16(b) }},
	}
	for i, f := range fields {
		src := strings.TrimSpace(f.src)
		if src == "" {
			src = "*"
		}
		b, err := parseField(f.def, src)
		if err != nil {
			return nil, err
		}
		f.set(b)
		c.spec[i] = src
	}
	if !c.anyDay() {
		return nil, fmt.Errorf("crontab %s: %w", c.fields(), ErrNeverDue)
	}
	return c, nil
}

// ParseCron parses a 5-field cron string "minute hour day_of_month month
// day_of_week" (standard cron order) or one of @yearly, @annually,
// @monthly, @weekly, @daily, @midnight, @hourly. Fields use Celery's
// syntax and meaning: day_of_week 0-6 with 0 = Sunday, and day_of_month
// and day_of_week must both match.
func ParseCron(s string, loc *time.Location) (*Crontab, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "@yearly", "@annually":
		s = "0 0 1 1 *"
	case "@monthly":
		s = "0 0 1 * *"
	case "@weekly":
		s = "0 0 * * 0"
	case "@daily", "@midnight":
		s = "0 0 * * *"
	case "@hourly":
		s = "0 * * * *"
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return nil, &FieldError{Field: "cron", Value: s, Err: fmt.Errorf("%q: want 5 fields (minute hour day_of_month month_of_year day_of_week), got %d", s, len(f))}
	}
	return NewCrontab(CrontabSpec{Minute: f[0], Hour: f[1], DayOfMonth: f[2], MonthOfYear: f[3], DayOfWeek: f[4]}, loc)
}

// MustCrontab is NewCrontab for package-level schedules known to be
// valid; it panics on error.
func MustCrontab(spec CrontabSpec, loc *time.Location) *Crontab {
	c, err := NewCrontab(spec, loc)
	if err != nil {
		panic("beat: " + err.Error())
	}
	return c
}

// Location returns the schedule's time zone.
func (c *Crontab) Location() *time.Location { return c.loc }

func (c *Crontab) fields() string {
	// Shown in cron order: minute hour day_of_month month_of_year day_of_week.
	return strings.Join([]string{c.spec[0], c.spec[1], c.spec[3], c.spec[4], c.spec[2]}, " ")
}

// String returns e.g. "crontab(*/15 * * * mon-fri) Europe/Berlin", the
// fields in cron order.
func (c *Crontab) String() string { return "crontab(" + c.fields() + ") " + c.loc.String() }

// parseField expands one field as Celery's crontab_parser does: comma
// separated parts, each "*", "*/step", "n", "a-b" or "a-b/step"; a range
// whose end is below its start wraps around (fri-mon).
func parseField(def fieldDef, src string) (uint64, error) {
	var set uint64
	for part := range strings.SplitSeq(src, ",") {
		bad := func(format string, args ...any) error {
			return &FieldError{Field: def.name, Value: part, Err: fmt.Errorf(format, args...)}
		}
		if part == "" {
			return 0, bad("empty part in %q", src)
		}
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return 0, bad("bad step %q in %q: want a positive number", stepText, part)
			}
			step = n
		}
		var vals []int
		switch {
		case rng == "*":
			for v := def.min; v <= def.max; v++ {
				vals = append(vals, v)
			}
		case strings.HasPrefix(rng, "-"):
			return 0, bad("value %s: negative numbers are not supported", rng)
		default:
			lo, hi, isRange := strings.Cut(rng, "-")
			if hasStep && !isRange {
				return 0, bad("%q: a step needs * or a range (a-b/n)", part)
			}
			a, err := fieldValue(def, lo)
			if err != nil {
				return 0, bad("%w", err)
			}
			b := a
			if isRange {
				if b, err = fieldValue(def, hi); err != nil {
					return 0, bad("%w", err)
				}
			}
			if b >= a {
				for v := a; v <= b; v++ {
					vals = append(vals, v)
				}
			} else { // wrap around, as Celery does
				for v := a; v <= def.max; v++ {
					vals = append(vals, v)
				}
				for v := def.min; v <= b; v++ {
					vals = append(vals, v)
				}
			}
		}
		for i := 0; i < len(vals); i += step {
			set |= 1 << uint(vals[i])
		}
	}
	return set, nil
}

func fieldValue(def fieldDef, s string) (int, error) {
	if s == "" {
		return 0, errors.New("missing number")
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("value %s: negative numbers are not supported", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		if i := nameIndex(def, strings.ToLower(s)); i >= 0 {
			return i + def.min, nil
		}
		if def.names != nil {
			return 0, fmt.Errorf("value %q is neither a number nor a name (%s, ...)", s, strings.Join(def.names[:3], ", "))
		}
		return 0, fmt.Errorf("value %q is not a number", s)
	}
	if n < def.min || n > def.max {
		return 0, fmt.Errorf("value %d out of range %d-%d", n, def.min, def.max)
	}
	return n, nil
}

func nameIndex(def fieldDef, s string) int {
	full := fullDays
	if def.name == FieldMonthOfYear {
		full = fullMonths
	}
	for i, n := range def.names {
		if s == n || s == full[i] {
			return i
		}
	}
	return -1
}

func (c *Crontab) matchDay(y int, m time.Month, d int) bool {
	if c.month&(1<<uint(m)) == 0 || c.dom&(1<<uint(d)) == 0 {
		return false
	}
	wd := time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()
	return c.dow&(1<<uint(wd)) != 0
}

// gregorianCycle is the number of days after which dates and weekdays
// repeat (400 years).
const gregorianCycle = 146097

// anyDay reports whether some date matches the day fields.
func (c *Crontab) anyDay() bool {
	start := time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := range gregorianCycle {
		t := start.AddDate(0, 0, i)
		y, m, d := t.Date()
		if c.matchDay(y, m, d) {
			return true
		}
	}
	return false
}

// Next returns the first time strictly after last at which the crontab
// fires.
func (c *Crontab) Next(last time.Time) time.Time {
	t := last.In(c.loc)
	y, m, d := t.Date()
	// Start a day early: a wall-clock time on the previous date can map
	// to an instant after last near a time-zone change.
	day := time.Date(y, m, d-1, 12, 0, 0, 0, time.UTC)
	hours, minutes := bitList(uint64(c.hour)), bitList(c.minute)
	for i := 0; i <= gregorianCycle; i++ {
		y, m, d := day.AddDate(0, 0, i).Date()
		if !c.matchDay(y, m, d) {
			continue
		}
		// Instants rise with the wall clock except on a day with a
		// time-zone change, where every candidate is looked at.
		_, off0 := time.Date(y, m, d, 0, 0, 0, 0, c.loc).Zone()
		_, off1 := time.Date(y, m, d+1, 0, 0, 0, 0, c.loc).Zone()
		steady := off0 == off1
		var best time.Time
	day:
		for _, h := range hours {
			for _, mi := range minutes {
				at := resolve(y, m, d, h, mi, c.loc)
				if at.After(last) && (best.IsZero() || at.Before(best)) {
					best = at
					if steady {
						break day
					}
				}
			}
		}
		if !best.IsZero() {
			return best
		}
	}
	return time.Time{}
}

func bitList(b uint64) []int {
	out := make([]int, 0, bits.OnesCount64(b))
	for b != 0 {
		i := bits.TrailingZeros64(b)
		out = append(out, i)
		b &^= 1 << uint(i)
	}
	return out
}

// resolve maps a wall-clock time in loc to an instant as Python's
// zoneinfo does with fold=0: the first of two occurrences, and for a
// skipped time the offset in force before the change.
func resolve(y int, m time.Month, d, h, mi int, loc *time.Location) time.Time {
	wall := time.Date(y, m, d, h, mi, 0, 0, time.UTC)
	u := wall.Unix()
	_, offBefore := time.Unix(u-86400, 0).In(loc).Zone()
	_, offAfter := time.Unix(u+86400, 0).In(loc).Zone()
	var best int64
	found := false
	for _, off := range [2]int{offBefore, offAfter} {
		c := u - int64(off)
		lt := time.Unix(c, 0).In(loc)
		if lt.Year() == y && lt.Month() == m && lt.Day() == d && lt.Hour() == h && lt.Minute() == mi {
			if !found || c < best {
				best, found = c, true
			}
		}
	}
	if !found {
		best = u - int64(offBefore)
	}
	return time.Unix(best, 0).In(loc)
}
