package celery

import (
	"maps"
	"slices"
)

// Stamping (Celery 5.3+, docs/wire.md#stamping): a stamp is a header
// name and value set on every signature of a canvas. A signature keeps
// its stamps in its options (the value under the header name, the names
// in "stamped_headers"); the message sent for it carries them in the
// stamped_headers and stamps headers, and a worker publishing the
// canvas's next steps sends them on, since those steps were stamped too.

// Stamped sets stamps on the message sent: the stamped_headers header
// lists their names and the stamps header holds them.
func Stamped(stamps map[string]any) SendOption {
	return func(o *sendOptions) {
		if len(stamps) == 0 {
			return
		}
		if o.msg.Stamps == nil {
			o.msg.Stamps = map[string]any{}
		}
		for _, k := range slices.Sorted(maps.Keys(stamps)) {
			if !slices.Contains(o.msg.StampedHeaders, k) {
				o.msg.StampedHeaders = append(o.msg.StampedHeaders, k)
			}
			o.msg.Stamps[k] = stamps[k]
		}
	}
}

// Stamps returns the stamps a signature carries in its options.
func (s Signature) Stamps() map[string]any {
	names := stampNames(s.Options["stamped_headers"])
	if len(names) == 0 {
		return nil
	}
	out := make(map[string]any, len(names))
	for _, k := range names {
		out[k] = s.Options[k]
	}
	return out
}

// Stamp returns a copy of s with stamps set on it and on every signature
// in it: the tasks of a chain or group, a chord's header and body, and
// link and link_error callbacks, as Python's sig.stamp(visitor) does with
// a visitor returning stamps for each of them. A stamp already set under
// the same name is replaced; other stamps stay.
func (s Signature) Stamp(stamps map[string]any) Signature {
	return s.stamp(stamps, 0)
}

func (s Signature) stamp(stamps map[string]any, depth int) Signature {
	if len(stamps) == 0 || depth > maxNesting {
		return s
	}
	opts := maps.Clone(s.Options)
	if opts == nil {
		opts = map[string]any{}
	}
	names := stampNames(opts["stamped_headers"])
	for _, k := range slices.Sorted(maps.Keys(stamps)) {
		if !slices.Contains(names, k) {
			names = append(names, k)
		}
		opts[k] = stamps[k]
	}
	l := make([]any, len(names))
	for i, n := range names {
		l[i] = n
	}
	opts["stamped_headers"] = l
	for _, k := range []string{"link", "link_error"} {
		if v, ok := opts[k]; ok && v != nil {
			opts[k] = stampValue(v, stamps, depth)
		}
	}
	s.Options = opts
	if s.SubtaskType == "" {
		return s
	}
	kw := maps.Clone(s.Kwargs)
	for _, k := range []string{"tasks", "header", "body", "task"} {
		if v, ok := kw[k]; ok && v != nil {
			kw[k] = stampValue(v, stamps, depth)
		}
	}
	s.Kwargs = kw
	return s
}

// stampValue stamps a signature dict or a list of them, leaving anything
// else as it is.
func stampValue(v any, stamps map[string]any, depth int) any {
	switch x := v.(type) {
	case map[string]any:
		sig, err := SignatureFromMap(x)
		if err != nil {
			return v
		}
		return sig.stamp(stamps, depth+1).Map()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stampValue(e, stamps, depth)
		}
		return out
	case Signature:
		return x.stamp(stamps, depth+1).Map()
	}
	return v
}

// stampNames reads a stamped_headers option (a list of names, or one).
func stampNames(v any) []string {
	switch x := v.(type) {
	case []string:
		return slices.Clone(x)
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		return []string{x}
	}
	return nil
}
