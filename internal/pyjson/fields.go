package pyjson

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"unicode"
)

// field is a JSON-visible struct field, chosen with encoding/json's rules.
type field struct {
	name      string
	index     []int // path through embedded structs
	tagged    bool  // name came from a json tag
	omitEmpty bool
	omitZero  bool
	quoted    bool // ",string" option
}

// typeFields lists the JSON fields of struct type t in declaration order,
// the way encoding/json sees them: exported fields (or embedded structs),
// named by their json tag or Go name, "-" skipped, and fields of untagged
// embedded structs promoted, with shallower fields and tagged fields
// winning name conflicts and unresolved conflicts dropped.
func typeFields(t reflect.Type) []field {
	type embedded struct {
		typ   reflect.Type
		index []int
	}
	var all []field
	level := []embedded{{typ: t}}
	visited := map[reflect.Type]bool{}
	for len(level) > 0 {
		var next []embedded
		count := map[reflect.Type]int{}
		for _, em := range level {
			count[em.typ]++
		}
		for _, em := range level {
			if visited[em.typ] {
				continue
			}
			visited[em.typ] = true
			for i := range em.typ.NumField() {
				sf := em.typ.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				index := append(slices.Clip(em.index), i)
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, embedded{typ: ft, index: index})
					continue
				}
				f := field{name: name, index: index, tagged: name != ""}
				if f.name == "" {
					f.name = sf.Name
				}
				for opt := range strings.SplitSeq(opts, ",") {
					switch opt {
					case "omitempty":
						f.omitEmpty = true
					case "omitzero":
						f.omitZero = true
					case "string":
						f.quoted = true
					}
				}
				all = append(all, f)
				if count[em.typ] > 1 {
					// The same struct embedded twice at one depth: its
					// fields conflict with themselves and are dropped.
					all = append(all, f)
				}
			}
		}
		level = next
	}
	slices.SortStableFunc(all, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	out := all[:0]
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].name == all[i].name {
			j++
		}
		group := all[i:j]
		if len(group) == 1 || len(group[0].index) < len(group[1].index) || group[0].tagged && !group[1].tagged {
			out = append(out, group[0])
		}
		i = j
	}
	slices.SortFunc(out, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return out
}

func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// lookupField finds the field for JSON key k: an exact name match, else a
// case-insensitive one (as encoding/json does).
func lookupField(fields []field, k string) *field {
	for i := range fields {
		if fields[i].name == k {
			return &fields[i]
		}
	}
	for i := range fields {
		if strings.EqualFold(fields[i].name, k) {
			return &fields[i]
		}
	}
	return nil
}
