package beat

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"github.com/celeriac/celeriac/celery"
)

// Entry is one periodic task: Celery's beat_schedule item.
type Entry struct {
	// Name identifies the entry; its last run is stored under this name.
	Name string
	// Task is the registered task name, e.g. "tasks.cleanup".
	Task string
	// Schedule says when it is due.
	Schedule Schedule
	// Args and Kwargs are the task's arguments.
	Args   []any
	Kwargs map[string]any
	// Queue is the destination queue. Default: the Beat's default queue.
	Queue string
	// Priority is the message priority, 0 (first on Redis) to 9.
	Priority int
	// Expires, when positive, makes the task expire this long after it
	// was sent (Celery's expires=seconds).
	Expires time.Duration
	// Headers are extra message headers.
	Headers map[string]any
	// TimeLimit and SoftTimeLimit set per-message time limits (0 = none).
	TimeLimit, SoftTimeLimit time.Duration
	// IgnoreResult asks the worker not to store the result.
	IgnoreResult bool
}

// CatchUp says what happens to due times missed by more than the late
// window (beat was down, or no beat held the lock).
type CatchUp int

const (
	// CatchUpOnce sends the most recent missed due time once (Celery's
	// behaviour after a restart: an overdue entry runs once).
	CatchUpOnce CatchUp = iota
	// CatchUpSkip sends nothing for missed due times (Celery with a
	// beat_cron_starting_deadline).
	CatchUpSkip
)

func (c CatchUp) String() string {
	if c == CatchUpSkip {
		return "skip"
	}
	return "once"
}

// ParseCatchUp parses "once" or "skip".
func ParseCatchUp(s string) (CatchUp, error) {
	switch s {
	case "once", "":
		return CatchUpOnce, nil
	case "skip":
		return CatchUpSkip, nil
	}
	return 0, fmt.Errorf("catch_up %q: want once or skip", s)
}

// Config is a parsed schedule file.
type Config struct {
	// Timezone is the file's timezone (Celery's `timezone` setting);
	// default UTC.
	Timezone *time.Location
	// CatchUp and LateWindow are the file's catch_up and late_window;
	// LateWindow is 0 when the file does not set it.
	CatchUp    CatchUp
	LateWindow time.Duration
	// Entries are sorted by name.
	Entries []Entry
}

// ConfigError is a bad schedule file: File names it, Entry (if any) the
// entry, Err says what is wrong.
type ConfigError struct {
	File  string
	Entry string
	Err   error
}

func (e *ConfigError) Error() string {
	s := "beat: " + e.File + ": "
	if e.Entry != "" {
		s += "entry " + strconv.Quote(e.Entry) + ": "
	}
	return s + e.Err.Error()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// LoadFile reads a schedule file: YAML (.yaml, .yml) or TOML (.toml),
// chosen by extension. See docs/beat.md for the format.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("beat: %w", err)
	}
	return ParseConfig(filepath.Base(path), data)
}

// ParseConfig parses a schedule file's contents; name's extension picks
// the format (.toml is TOML, anything else YAML) and name appears in
// errors.
func ParseConfig(name string, data []byte) (*Config, error) {
	var raw map[string]any
	fail := func(err error) (*Config, error) { return nil, &ConfigError{File: name, Err: err} }
	switch strings.ToLower(filepath.Ext(name)) {
	case ".toml":
		if _, err := toml.Decode(string(data), &raw); err != nil {
			return fail(oneLine(err))
		}
	default:
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return fail(oneLine(err))
		}
	}
	cfg := &Config{Timezone: time.UTC}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		v := raw[k]
		var err error
		switch k {
		case "timezone":
			cfg.Timezone, err = location(v)
		case "catch_up":
			var s string
			if s, err = asString(v); err == nil {
				cfg.CatchUp, err = ParseCatchUp(s)
			}
		case "late_window":
			cfg.LateWindow, err = asDuration(v)
		case "entries":
		default:
			err = fmt.Errorf("unknown key %q (want timezone, catch_up, late_window, entries)", k)
		}
		if err != nil {
			return fail(fmt.Errorf("%s: %w", k, err))
		}
	}
	entries, ok := raw["entries"].(map[string]any)
	if raw["entries"] != nil && !ok {
		return fail(errors.New("entries: want a mapping of entry name to entry"))
	}
	if len(entries) == 0 {
		return fail(errors.New("no entries"))
	}
	for _, n := range slices.Sorted(maps.Keys(entries)) {
		e, err := parseEntry(n, entries[n], cfg.Timezone)
		if err != nil {
			return nil, &ConfigError{File: name, Entry: n, Err: err}
		}
		cfg.Entries = append(cfg.Entries, e)
	}
	return cfg, nil
}

func oneLine(err error) error {
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}

var entryKeys = []string{"task", "every", "cron", "crontab", "timezone", "args", "kwargs", "queue", "priority", "expires", "options"}

func parseEntry(name string, v any, tz *time.Location) (Entry, error) {
	e := Entry{Name: name}
	m, ok := v.(map[string]any)
	if !ok {
		return e, errors.New("want a mapping")
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(entryKeys, k) {
			return e, fmt.Errorf("unknown key %q (want one of %s)", k, strings.Join(entryKeys, ", "))
		}
	}
	var err error
	field := func(k string, err error) error { return fmt.Errorf("field %s: %w", k, err) }
	if e.Task, err = asString(m["task"]); err != nil || e.Task == "" {
		return e, field("task", errors.New("a task name is required"))
	}
	if v, ok := m["timezone"]; ok {
		if tz, err = location(v); err != nil {
			return e, field("timezone", err)
		}
	}
	var kinds []string
	for _, k := range []string{"every", "cron", "crontab"} {
		if _, ok := m[k]; ok {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		return e, errors.New("want exactly one of every, cron, crontab")
	}
	switch kinds[0] {
	case "every":
		d, err := asDuration(m["every"])
		if err != nil || d <= 0 {
			if err == nil {
				err = errors.New("must be positive")
			}
			return e, field("every", err)
		}
		e.Schedule = Every(d)
	case "cron":
		s, err := asString(m["cron"])
		if err != nil {
			return e, field("cron", err)
		}
		if e.Schedule, err = ParseCron(s, tz); err != nil {
			return e, err
		}
	case "crontab":
		ct, ok := m["crontab"].(map[string]any)
		if !ok {
			return e, field("crontab", errors.New("want a mapping of minute, hour, day_of_week, day_of_month, month_of_year"))
		}
		var spec CrontabSpec
		dst := map[string]*string{FieldMinute: &spec.Minute, FieldHour: &spec.Hour, FieldDayOfWeek: &spec.DayOfWeek,
			FieldDayOfMonth: &spec.DayOfMonth, FieldMonthOfYear: &spec.MonthOfYear}
		for _, k := range slices.Sorted(maps.Keys(ct)) {
			p, ok := dst[k]
			if !ok {
				return e, fmt.Errorf("crontab: unknown key %q (want minute, hour, day_of_week, day_of_month, month_of_year)", k)
			}
			if *p, err = cronText(ct[k]); err != nil {
				return e, field(k, err)
			}
		}
		if e.Schedule, err = NewCrontab(spec, tz); err != nil {
			return e, err
		}
	}
	if v, ok := m["args"]; ok {
		if e.Args, ok = v.([]any); !ok {
			return e, field("args", errors.New("want a list"))
		}
		e.Args = normalize(e.Args).([]any)
	}
	if v, ok := m["kwargs"]; ok {
		if e.Kwargs, ok = v.(map[string]any); !ok {
			return e, field("kwargs", errors.New("want a mapping"))
		}
		e.Kwargs = normalize(e.Kwargs).(map[string]any)
	}
	opts := map[string]any{}
	for _, k := range []string{"queue", "priority", "expires"} {
		if v, ok := m[k]; ok {
			opts[k] = v
		}
	}
	if v, ok := m["options"]; ok {
		o, ok := v.(map[string]any)
		if !ok {
			return e, field("options", errors.New("want a mapping"))
		}
		for k, v := range o {
			if _, dup := opts[k]; dup {
				return e, field("options", fmt.Errorf("%s is also set on the entry", k))
			}
			opts[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if err := e.setOption(k, opts[k]); err != nil {
			return e, field(k, err)
		}
	}
	return e, nil
}

var optionKeys = []string{"queue", "priority", "expires", "headers", "time_limit", "soft_time_limit", "ignore_result"}

func (e *Entry) setOption(k string, v any) error {
	var err error
	switch k {
	case "queue":
		if e.Queue, err = asString(v); err == nil {
			err = celery.ValidateQueue(e.Queue) // a key of the transport or the backend
		}
	case "priority":
		var n int64
		if n, err = asInt(v); err == nil && (n < 0 || n > 9) {
			err = fmt.Errorf("value %d out of range 0-9", n)
		}
		e.Priority = int(n)
	case "expires":
		e.Expires, err = asDuration(v)
	case "time_limit":
		e.TimeLimit, err = asDuration(v)
	case "soft_time_limit":
		e.SoftTimeLimit, err = asDuration(v)
	case "ignore_result":
		var ok bool
		if e.IgnoreResult, ok = v.(bool); !ok {
			err = errors.New("want true or false")
		}
	case "headers":
		h, ok := v.(map[string]any)
		if !ok {
			return errors.New("want a mapping")
		}
		e.Headers = normalize(h).(map[string]any)
	default:
		err = fmt.Errorf("unknown option (want one of %s)", strings.Join(optionKeys, ", "))
	}
	return err
}

func asString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %v", v)
	}
	return s, nil
}

func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
	}
	return 0, fmt.Errorf("want an integer, got %v", v)
}

// cronText accepts a crontab field as a string or a number.
func cronText(v any) (string, error) {
	if n, err := asInt(v); err == nil {
		return strconv.FormatInt(n, 10), nil
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	if l, ok := v.([]any); ok { // a list of numbers, as Celery takes
		parts := make([]string, len(l))
		for i, x := range l {
			n, err := asInt(x)
			if err != nil {
				return "", err
			}
			parts[i] = strconv.FormatInt(n, 10)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("want a string or a number, got %v", v)
}

// asDuration takes a Go duration string ("30s", "1h30m") or a number of
// seconds, as Celery's settings do.
func asDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case string:
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("%q: want a duration such as 30s, 5m or 1h, or a number of seconds", x)
		}
		return d, nil
	case float64:
		return time.Duration(x * float64(time.Second)), nil
	}
	n, err := asInt(v)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 30s, or a number of seconds, got %v", v)
	}
	return time.Duration(n) * time.Second, nil
}

func location(v any) (*time.Location, error) {
	s, err := asString(v)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", s)
	}
	return loc, nil
}

// normalize turns decoded YAML/TOML values into what the JSON encoder
// takes: maps with non-string keys are stringified, times become ISO
// strings, integers int64 (as from either parser).
func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case int:
		return int64(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}
