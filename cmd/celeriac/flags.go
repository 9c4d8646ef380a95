package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/celeriac/celeriac/internal/duration"
)

// flagSet parses a command's arguments the way Celery's click commands
// do, over flag.Value: every flag may have several spellings (-c and
// --concurrency), long flags take --flag=value or --flag value, short
// ones -c4, -c 4 or -c=4, short booleans combine (-Ej), positional
// arguments may come before, between or after the flags, and "--" ends
// the flags. A long name written with one dash (-broker, Go's habit) is
// still taken as that long flag.
//
// Errors are *usageError values (exit status 2); -h and --help return
// flag.ErrHelp.
type flagSet struct {
	name string
	// synopsis is the help's usage line; default "celeriac <name> [flags]".
	synopsis string
	flags    []*flagDef
	index    map[string]*flagDef // by spelling, without dashes
	args     []string
}

// flagDef is one flag with all its spellings.
type flagDef struct {
	names []string // one-letter spellings first, then long ones, as registered
	value flag.Value
	typ   string // shown in help ("string", "int", "duration", ...); "" for a boolean
	usage string
	def   string // the default as shown in help; "" shows none
	set   bool
}

func newFlagSet(name string) *flagSet {
	return &flagSet{name: name, index: map[string]*flagDef{}}
}

// usageError is a mistake in a command's arguments: it is reported in one
// line and the command exits 2, as click's UsageError.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a *usageError.
func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// Var registers v under names, a space-separated list of spellings
// without dashes ("c concurrency"). Registering a spelling twice is a
// programming error and panics.
func (fs *flagSet) Var(v flag.Value, names, typ, usage string) {
	f := &flagDef{names: strings.Fields(names), value: v, typ: typ, usage: usage, def: v.String()}
	slices.SortStableFunc(f.names, func(a, b string) int { return min(len(a), 2) - min(len(b), 2) })
	if f.def == "0" || f.def == "0s" || f.def == "false" {
		f.def = ""
	}
	if typ == "string" && f.def != "" {
		f.def = strconv.Quote(f.def)
	}
	for _, n := range f.names {
		if _, dup := fs.index[n]; dup || n == "h" || n == "help" {
			panic("celeriac: flag " + n + " of " + fs.name + " registered twice, or reserved for help")
		}
		fs.index[n] = f
	}
	fs.flags = append(fs.flags, f)
}

// String registers a string flag.
func (fs *flagSet) String(p *string, names, def, usage string) {
	*p = def
	fs.Var((*stringValue)(p), names, "string", usage)
}

// Int registers an integer flag.
func (fs *flagSet) Int(p *int, names string, def int, usage string) {
	*p = def
	fs.Var(&intValue{p: p, min: -1 << 62}, names, "int", usage)
}

// Count registers an integer flag that must not be negative.
func (fs *flagSet) Count(p *int, names string, def int, usage string) {
	*p = def
	fs.Var(&intValue{p: p}, names, "int", usage)
}

// Float registers a number flag.
func (fs *flagSet) Float(p *float64, names string, def float64, usage string) {
	*p = def
	fs.Var((*floatValue)(p), names, "float", usage)
}

// Bool registers a flag that takes no value (--flag, or --flag=false).
func (fs *flagSet) Bool(p *bool, names string, def bool, usage string) {
	*p = def
	fs.Var((*boolValue)(p), names, "", usage)
}

// Duration registers a duration flag: seconds ("3", "0.5") or a Go
// duration ("3s", "1m").
func (fs *flagSet) Duration(p *time.Duration, names string, def time.Duration, usage string) {
	*p = def
	fs.Var((*durationValue)(p), names, "duration", usage)
}

// Choice registers a string flag that takes one of choices, in any case;
// *p gets the choice as written in choices.
func (fs *flagSet) Choice(p *string, names, def string, choices []string, usage string) {
	*p = def
	fs.Var(&choiceValue{p: p, choices: choices}, names, "string", usage+" ("+strings.Join(choices, ", ")+")")
}

// Changed reports whether the flag spelt name was given.
func (fs *flagSet) Changed(name string) bool {
	f := fs.index[name]
	return f != nil && f.set
}

// Args returns the positional arguments.
func (fs *flagSet) Args() []string { return fs.args }

// NArg returns the number of positional arguments.
func (fs *flagSet) NArg() int { return len(fs.args) }

// Arg returns the i'th positional argument, or "".
func (fs *flagSet) Arg(i int) string {
	if i < len(fs.args) {
		return fs.args[i]
	}
	return ""
}

// Parse parses args; see flagSet.
func (fs *flagSet) Parse(args []string) error {
	fs.args = nil
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, bool) {
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		switch {
		case a == "--":
			fs.args = append(fs.args, args[i+1:]...)
			return nil
		case len(a) < 2 || a[0] != '-' || isNumber(a):
			fs.args = append(fs.args, a)
		case strings.HasPrefix(a, "--"):
			if err := fs.long("--", a[2:], next); err != nil {
				return err
			}
		default:
			name, _, _ := strings.Cut(a[1:], "=")
			if f := fs.index[name]; len(name) > 1 && f != nil || name == "help" {
				if err := fs.long("-", a[1:], next); err != nil {
					return err
				}
				continue
			}
			if err := fs.short(a[1:], next); err != nil {
				// -concurency 4 is more likely a misspelt long flag
				// than -c with the value "oncurency".
				if sug := fs.suggest(name); len(name) > 2 && sug != "" {
					return usagef("unknown flag -%s (did you mean %s?)", name, sug)
				}
				return err
			}
		}
	}
	return nil
}

// long handles --name, --name=value and --name value.
func (fs *flagSet) long(dash, body string, next func() (string, bool)) error {
	name, val, hasVal := strings.Cut(body, "=")
	if name == "help" {
		return flag.ErrHelp
	}
	f := fs.index[name]
	if f == nil {
		return fs.unknown(dash + name)
	}
	if f.typ == "" && !hasVal {
		val, hasVal = "true", true
	}
	if !hasVal {
		if val, hasVal = next(); !hasVal {
			return usagef("flag %s%s needs a value", dash, name)
		}
	}
	return fs.set(f, dash+name, val)
}

// short handles a cluster of one-letter flags: -E, -Ej, -c4, -c 4, -c=4.
func (fs *flagSet) short(body string, next func() (string, bool)) error {
	for j := 0; j < len(body); j++ {
		name := body[j : j+1]
		if name == "h" {
			return flag.ErrHelp
		}
		f := fs.index[name]
		if f == nil {
			return fs.unknown("-" + body[j:])
		}
		if f.typ == "" {
			if v, ok := strings.CutPrefix(body[j+1:], "="); ok {
				return fs.set(f, "-"+name, v)
			}
			if err := fs.set(f, "-"+name, "true"); err != nil {
				return err
			}
			continue
		}
		val := strings.TrimPrefix(body[j+1:], "=")
		if val == "" {
			var ok bool
			if val, ok = next(); !ok {
				return usagef("flag -%s needs a value", name)
			}
		}
		return fs.set(f, "-"+name, val)
	}
	return nil
}

func (fs *flagSet) set(f *flagDef, spelt, val string) error {
	if err := f.value.Set(val); err != nil {
		return usagef("invalid value %q for %s: %v", val, spelt, err)
	}
	f.set = true
	return nil
}

// unknown reports an unknown flag, suggesting the nearest spelling.
func (fs *flagSet) unknown(spelt string) error {
	if s := fs.suggest(spelt); s != "" {
		return usagef("unknown flag %s (did you mean %s?)", spelt, s)
	}
	return usagef("unknown flag %s", spelt)
}

// suggest returns the registered long spelling nearest to spelt (an
// unknown flag as written), or "" if none is near: within an edit
// distance of a third of its length (at least 2), or a unique one that
// starts with what was written.
func (fs *flagSet) suggest(spelt string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(spelt, "-"), "=")
	if len(name) < 2 {
		return ""
	}
	best, bestD := "", max(2, len(name)/3)+1
	var prefixed []string
	for n := range fs.index {
		if len(n) < 2 {
			continue
		}
		if strings.HasPrefix(n, name) {
			prefixed = append(prefixed, n)
		}
		if d := editDistance(name, n); d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	if best == "" && len(prefixed) == 1 {
		best = prefixed[0]
	}
	if best == "" {
		return ""
	}
	return "--" + best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// PrintHelp prints the flags, every spelling of each, in the layout of
// the flag package's PrintDefaults (docgen_test.go reads it).
func (fs *flagSet) PrintHelp(w io.Writer) {
	for _, f := range fs.flags {
		spellings := make([]string, len(f.names))
		for i, n := range f.names {
			spellings[i] = "--" + n
			if len(n) == 1 {
				spellings[i] = "-" + n
			}
		}
		head := "  " + strings.Join(spellings, ", ")
		if f.typ != "" {
			head += " " + f.typ
		}
		usage := f.usage
		if f.def != "" {
			usage += " (default " + f.def + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", head, strings.ReplaceAll(usage, "\n", "\n    \t"))
	}
	fmt.Fprintln(w, "  -h, --help\n    \tprint this help")
}

func isNumber(s string) bool { _, err := strconv.ParseFloat(s, 64); return err == nil }

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

// intValue is an int of at least min.
type intValue struct {
	p   *int
	min int
}

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want an integer")
	}
	if n < v.min {
		if v.min == 0 {
			return errors.New("must not be negative")
		}
		return fmt.Errorf("must not be below %d", v.min)
	}
	*v.p = n
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(*v.p) }

type floatValue float64

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("want a number")
	}
	*v = floatValue(f)
	return nil
}
func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := duration.Parse(s)
	if err != nil {
		return duration.ErrSyntax
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return duration.Format(time.Duration(*v)) }

// choiceValue is one of choices, matched without regard to case.
type choiceValue struct {
	p       *string
	choices []string
}

func (v *choiceValue) Set(s string) error {
	for _, c := range v.choices {
		if strings.EqualFold(s, c) {
			*v.p = c
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(v.choices, ", "))
}
func (v *choiceValue) String() string { return *v.p }
