package celery

import (
	"fmt"
	"strings"
	"time"

	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// State is a task state (celery/states.py; docs/wire.md#states). Custom states such
// as "PROGRESS" are plain State values too.
type State string

// Celery's built-in states.
const (
	StatePending  State = "PENDING"
	StateReceived State = "RECEIVED"
	StateStarted  State = "STARTED"
	StateSuccess  State = "SUCCESS"
	StateFailure  State = "FAILURE"
	StateRetry    State = "RETRY"
	StateRevoked  State = "REVOKED"
	StateRejected State = "REJECTED"
	StateIgnored  State = "IGNORED"
)

// Ready reports whether s is final: SUCCESS, FAILURE or REVOKED.
func (s State) Ready() bool { return s == StateSuccess || s == StateFailure || s == StateRevoked }

// IsException reports whether a result in state s holds an exception.
func (s State) IsException() bool {
	return s == StateFailure || s == StateRetry || s == StateRevoked
}

// ResultMeta is a task's entry in the result backend, the celery-task-meta
// JSON (docs/wire.md#result-meta).
type ResultMeta struct {
	TaskID    string
	Status    State
	Result    any // decoded value; an exception dict for exception states
	Traceback string
	Children  []any
	DateDone  time.Time // zero while not ready
	GroupID   string
	ParentID  string
	// Extended fields (result_extended): written when Name is not empty.
	Name    string
	Args    []any
	Kwargs  map[string]any
	Worker  string
	Retries int
	Queue   string
}

// Err returns the task's exception as a *TaskError for FAILURE, RETRY and
// REVOKED metas, else nil.
func (m *ResultMeta) Err() error {
	if !m.Status.IsException() {
		return nil
	}
	return taskErrorFromMeta(m)
}

// Decode decodes the result value into out (a pointer), converting kombu
// types (datetime, uuid, decimal, bytes) as pyjson.Unmarshal does.
func (m *ResultMeta) Decode(out any) error {
	raw, err := pyjson.Encode(m.Result)
	if err != nil {
		return fmt.Errorf("celery: result of %s: %w", m.TaskID, err)
	}
	if err := pyjson.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("celery: result of %s: %w", m.TaskID, err)
	}
	return nil
}

// Encode renders the meta as the Python backend writes it: status, result,
// traceback, children, date_done, then optional group/parent ids, extended
// fields and task_id last.
func (m *ResultMeta) Encode() ([]byte, error) {
	dst := make([]byte, 0, 256)
	dst = append(dst, `{"status": `...)
	dst = kombu.AppendString(dst, string(m.Status))
	dst = append(dst, `, "result": `...)
	var err error
	if dst, err = pyjson.AppendEncode(dst, m.Result); err != nil {
		return nil, fmt.Errorf("celery: encode result of %s: %w", m.TaskID, err)
	}
	dst = append(dst, `, "traceback": `...)
	if m.Traceback == "" {
		dst = append(dst, "null"...)
	} else {
		dst = kombu.AppendString(dst, m.Traceback)
	}
	dst = append(dst, `, "children": `...)
	if len(m.Children) == 0 {
		dst = append(dst, "[]"...)
	} else if dst, err = pyjson.AppendEncode(dst, m.Children); err != nil {
		return nil, err
	}
	dst = append(dst, `, "date_done": `...)
	if m.DateDone.IsZero() {
		dst = append(dst, "null"...)
	} else {
		dst = append(appendTime(append(dst, '"'), m.DateDone), '"') // no character to escape
	}
	if m.GroupID != "" {
		dst = append(dst, `, "group_id": `...)
		dst = kombu.AppendString(dst, m.GroupID)
	}
	if m.ParentID != "" {
		dst = append(dst, `, "parent_id": `...)
		dst = kombu.AppendString(dst, m.ParentID)
	}
	if m.Name != "" {
		args, kwargs := m.Args, m.Kwargs
		if args == nil {
			args = []any{}
		}
		if kwargs == nil {
			kwargs = map[string]any{}
		}
		dst = append(dst, `, "name": `...)
		dst = kombu.AppendString(dst, m.Name)
		dst = append(dst, `, "args": `...)
		if dst, err = pyjson.AppendEncode(dst, args); err != nil {
			return nil, err
		}
		dst = append(dst, `, "kwargs": `...)
		if dst, err = pyjson.AppendEncode(dst, kwargs); err != nil {
			return nil, err
		}
		dst = append(dst, `, "worker": `...)
		dst = kombu.AppendString(dst, m.Worker)
		dst = append(dst, `, "retries": `...)
		dst = fmt.Appendf(dst, "%d", m.Retries)
		dst = append(dst, `, "queue": `...)
		dst = kombu.AppendString(dst, m.Queue)
	}
	dst = append(dst, `, "task_id": `...)
	dst = kombu.AppendString(dst, m.TaskID)
	return append(dst, '}'), nil
}

// DecodeResultMeta parses a celery-task-meta value: JSON, msgpack or YAML
// (result_serializer), compressed or not (result_compression).
func DecodeResultMeta(raw []byte) (*ResultMeta, error) {
	v, err := decodeResultPayload(raw)
	if err != nil {
		return nil, fmt.Errorf("celery: result meta: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("celery: result meta is not an object")
	}
	m := &ResultMeta{Result: obj["result"]}
	s, _ := obj["status"].(string)
	m.Status = State(s)
	m.TaskID, _ = obj["task_id"].(string)
	m.Traceback, _ = obj["traceback"].(string)
	m.Children, _ = obj["children"].([]any)
	switch d := obj["date_done"].(type) {
	case string:
		m.DateDone, _ = ParseTime(d)
	case time.Time:
		m.DateDone = d
	}
	m.GroupID, _ = obj["group_id"].(string)
	m.ParentID, _ = obj["parent_id"].(string)
	m.Name, _ = obj["name"].(string)
	m.Args, _ = obj["args"].([]any)
	m.Kwargs, _ = obj["kwargs"].(map[string]any)
	m.Worker, _ = obj["worker"].(string)
	m.Retries, _ = kombu.AsInt(obj["retries"])
	m.Queue, _ = obj["queue"].(string)
	return m, nil
}

// TaskError is a task's exception as stored by a Python or Go worker
// (docs/wire.md#exceptions). Get returns it for FAILURE and REVOKED; match it with
// errors.As.
type TaskError struct {
	TaskID string
	State  State
	// Type is the exception class name, e.g. "ValueError".
	Type string
	// Module is the exception's module, e.g. "builtins".
	Module string
	// Args are the exception's args (exc_message).
	Args      []any
	Traceback string
}

// Message returns the exception text as Python's str(exc) gives it for the
// common one-argument case.
func (e *TaskError) Message() string {
	switch len(e.Args) {
	case 0:
		return ""
	case 1:
		if s, ok := e.Args[0].(string); ok {
			return s
		}
		return pyjson.PyRepr(e.Args[0])
	}
	return pyjson.ArgsRepr(e.Args)
}

func (e *TaskError) Error() string {
	if msg := e.Message(); msg != "" {
		return fmt.Sprintf("celery: task %s %s: %s: %s", e.TaskID, strings.ToLower(string(e.State)), e.Type, msg)
	}
	return fmt.Sprintf("celery: task %s %s: %s", e.TaskID, strings.ToLower(string(e.State)), e.Type)
}

// Exception builds the exc dict a worker stores for a failure
// (docs/wire.md#exceptions).
func Exception(excType, module string, args ...any) map[string]any {
	if args == nil {
		args = []any{}
	}
	return map[string]any{"exc_type": excType, "exc_message": args, "exc_module": module}
}

func taskErrorFromMeta(m *ResultMeta) *TaskError {
	e := &TaskError{TaskID: m.TaskID, State: m.Status, Traceback: m.Traceback}
	switch r := m.Result.(type) {
	case map[string]any:
		e.Type, _ = r["exc_type"].(string)
		e.Module, _ = r["exc_module"].(string)
		switch msg := r["exc_message"].(type) {
		case []any:
			e.Args = msg
		case nil:
		default:
			e.Args = []any{msg}
		}
	case nil:
	default:
		e.Args = []any{r}
	}
	if e.Type == "" {
		e.Type = "Exception"
	}
	return e
}
