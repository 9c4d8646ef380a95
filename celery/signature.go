package celery

import "fmt"

// Signature describes one task invocation that travels inside a message:
// a callback, errback, chain step or chord body. It serializes to and from
// Celery's signature dict (canvas.py `Signature`; docs/wire.md#signatures).
type Signature struct {
	Task    string
	Args    []any
	Kwargs  map[string]any
	Options map[string]any
	// SubtaskType is "" for a plain task, or chain, group, chord, chunks,
	// xmap, xstarmap.
	SubtaskType string
	// Immutable signatures ignore arguments supplied by a parent (si()).
	Immutable bool
}

// NewSignature returns a signature of task with positional args (s()).
func NewSignature(task string, args ...any) Signature {
	return Signature{Task: task, Args: args}
}

// Map returns the signature as Celery's dict.
func (s Signature) Map() map[string]any {
	args := s.Args
	if args == nil {
		args = []any{}
	}
	kwargs := s.Kwargs
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	opts := s.Options
	if opts == nil {
		opts = map[string]any{}
	}
	var st any
	if s.SubtaskType != "" {
		st = s.SubtaskType
	}
	return map[string]any{
		"task": s.Task, "args": args, "kwargs": kwargs, "options": opts,
		"subtask_type": st, "immutable": s.Immutable,
	}
}

// SignatureFromMap parses Celery's signature dict.
func SignatureFromMap(m map[string]any) (Signature, error) {
	var s Signature
	var ok bool
	if s.Task, ok = m["task"].(string); !ok {
		return s, fmt.Errorf("celery: signature has no task name")
	}
	switch a := m["args"].(type) {
	case []any:
		s.Args = a
	case nil:
	default:
		return s, fmt.Errorf("celery: signature %s: args is not a list", s.Task)
	}
	switch k := m["kwargs"].(type) {
	case map[string]any:
		s.Kwargs = k
	case nil:
	default:
		return s, fmt.Errorf("celery: signature %s: kwargs is not an object", s.Task)
	}
	switch o := m["options"].(type) {
	case map[string]any:
		s.Options = o
	case nil:
	default:
		return s, fmt.Errorf("celery: signature %s: options is not an object", s.Task)
	}
	s.SubtaskType, _ = m["subtask_type"].(string)
	s.Immutable, _ = m["immutable"].(bool)
	return s, nil
}
