package control

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// The reply types below have the field names and JSON keys of the replies
// Celery's worker builds (celery/worker/control.py and the info methods it
// calls), so a Python worker's reply and a Go worker's reply decode into
// the same values. The Go worker builds its replies from them too. Where
// Celery itself sends different JSON types for one key (a pool's
// max-tasks-per-child is an int, "N/A" or null), the field is an any.

// Status is the reply of commands that answer {"ok": ...} or
// {"error": ...} (Celery's ok() and nok()): ping ("pong"), report (the
// text), revoke, rate_limit, time_limit, pool_grow, pool_shrink,
// add_consumer, cancel_consumer, enable_events, disable_events.
type Status struct {
	OK    string `json:"ok,omitempty"`
	Error string `json:"error,omitempty"`
}

// Err returns the node's error as an error, or nil when it answered ok.
func (s Status) Err() error {
	if s.Error == "" {
		return nil
	}
	return errors.New(s.Error)
}

// OK returns a Status that answers ok with msg.
func OK(msg string) Status { return Status{OK: msg} }

// Failed returns a Status that answers an error with msg.
func Failed(msg string) Status { return Status{Error: msg} }

// Stats is a worker's reply to stats (WorkController.stats: its info, the
// pool's and the consumer's, and rusage).
type Stats struct {
	// Total is the number of tasks the worker ran, by task name.
	Total map[string]int64 `json:"total"`
	PID   int              `json:"pid"`
	// Clock is the worker's Lamport clock value, as text.
	Clock string `json:"clock"`
	// Uptime is in whole seconds.
	Uptime        int64      `json:"uptime"`
	Pool          PoolStats  `json:"pool"`
	Broker        BrokerInfo `json:"broker"`
	PrefetchCount int        `json:"prefetch_count"`
	Rusage        Rusage     `json:"rusage"`
	// Abandoned is celeriac's: task handlers abandoned at their hard time
	// limit that still run. Python workers do not send it (nil).
	Abandoned *int64 `json:"abandoned,omitempty"`
	// Autoscaler is set by workers started with --autoscale.
	Autoscaler *AutoscalerInfo `json:"autoscaler,omitempty"`
}

// AutoscalerInfo is the autoscaler part of stats (Autoscaler.info): the
// pool's bounds, its current size and the requests the worker holds.
type AutoscalerInfo struct {
	Max     int `json:"max"`
	Min     int `json:"min"`
	Current int `json:"current"`
	Qty     int `json:"qty"`
}

// PoolStats is the pool part of stats (BasePool._get_info and its
// subclasses).
type PoolStats struct {
	// Implementation is "module:Class", e.g.
	// "celery.concurrency.prefork:TaskPool".
	Implementation string `json:"implementation"`
	MaxConcurrency int    `json:"max-concurrency"`
	// Processes are the pool's process ids (prefork, solo, the Go
	// worker); nil for pools without processes (threads).
	Processes []int `json:"processes"`
	// MaxTasksPerChild is an int, "N/A" or null, depending on the pool.
	MaxTasksPerChild      any   `json:"max-tasks-per-child,omitempty"`
	PutGuardedBySemaphore *bool `json:"put-guarded-by-semaphore,omitempty"`
	// Timeouts are the soft and hard time limits in seconds (0: none);
	// empty for the solo pool.
	Timeouts []float64 `json:"timeouts"`
	// Writes is the prefork pool's write statistics (an object, or
	// "N/A").
	Writes any `json:"writes,omitempty"`
	// Threads is the thread pool's thread count.
	Threads *int `json:"threads,omitempty"`
}

// BrokerInfo is the broker part of stats (kombu Connection.info).
type BrokerInfo struct {
	Hostname    string  `json:"hostname"`
	UserID      *string `json:"userid"`
	VirtualHost string  `json:"virtual_host"`
	Port        int     `json:"port"`
	Insist      bool    `json:"insist"`
	// SSL is a bool, or kombu's ssl options object.
	SSL              any            `json:"ssl"`
	Transport        string         `json:"transport"`
	ConnectTimeout   json.Number    `json:"connect_timeout"`
	TransportOptions map[string]any `json:"transport_options"`
	LoginMethod      *string        `json:"login_method"`
	URIPrefix        *string        `json:"uri_prefix"`
	Heartbeat        *float64       `json:"heartbeat"`
	FailoverStrategy string         `json:"failover_strategy"`
	Alternates       []string       `json:"alternates"`
	// CredentialProvider is kombu ≥ 5.5's (a class path or null).
	CredentialProvider any `json:"credential_provider"`
}

// Rusage is getrusage(RUSAGE_SELF) of the worker process, as stats
// reports it. Celery sends the string "N/A" where rusage is unavailable:
// that decodes to a Rusage with Unavailable set (and encodes back so).
type Rusage struct {
	Unavailable bool `json:"-"`

	UTime    float64 `json:"utime"`
	STime    float64 `json:"stime"`
	MaxRSS   int64   `json:"maxrss"`
	IxRSS    int64   `json:"ixrss"`
	IdRSS    int64   `json:"idrss"`
	IsRSS    int64   `json:"isrss"`
	MinFlt   int64   `json:"minflt"`
	MajFlt   int64   `json:"majflt"`
	NSwap    int64   `json:"nswap"`
	InBlock  int64   `json:"inblock"`
	OuBlock  int64   `json:"oublock"`
	MsgSnd   int64   `json:"msgsnd"`
	MsgRcv   int64   `json:"msgrcv"`
	NSignals int64   `json:"nsignals"`
	NVCSw    int64   `json:"nvcsw"`
	NIVCSw   int64   `json:"nivcsw"`
}

// rusageFields has Rusage's fields without its methods.
type rusageFields Rusage

// MarshalJSON writes "N/A" for an unavailable rusage, else the object.
func (r Rusage) MarshalJSON() ([]byte, error) {
	if r.Unavailable {
		return []byte(`"N/A"`), nil
	}
	return pyjson.Encode(rusageFields(r))
}

// UnmarshalJSON reads the object, or any string as unavailable.
func (r *Rusage) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*r = Rusage{Unavailable: true}
		return nil
	}
	var f rusageFields
	if err := pyjson.Unmarshal(b, &f); err != nil {
		return err
	}
	*r = Rusage(f)
	return nil
}

// TaskInfo is one request a worker holds, as active, reserved,
// scheduled and query_task report it (Request.info).
type TaskInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Args is the positional arguments (a list), or their repr (a
	// string) when asked with safe=true.
	Args any `json:"args"`
	// Kwargs is the keyword arguments (an object), or their repr (a
	// string) when asked with safe=true.
	Kwargs any `json:"kwargs"`
	// Type is the task name as sent (the message's task header).
	Type     string `json:"type"`
	Hostname string `json:"hostname"`
	// TimeStart is when the task started (Unix seconds); nil until then.
	TimeStart    *float64     `json:"time_start"`
	Acknowledged bool         `json:"acknowledged"`
	DeliveryInfo DeliveryInfo `json:"delivery_info"`
	// WorkerPID is the pid of the process running it; nil until started.
	WorkerPID *int `json:"worker_pid"`
}

// DeliveryInfo is where a request came from.
type DeliveryInfo struct {
	Exchange    string `json:"exchange"`
	RoutingKey  string `json:"routing_key"`
	Priority    *int   `json:"priority"`
	Redelivered *bool  `json:"redelivered"`
}

// ScheduledTask is one entry of scheduled: a request waiting for its ETA.
type ScheduledTask struct {
	// ETA is the ISO 8601 time the task waits for, nil if unknown.
	ETA      *string  `json:"eta"`
	Priority int      `json:"priority"`
	Request  TaskInfo `json:"request"`
}

// TaskState is one answer of query_task: the request's state at the
// worker ("active", "reserved" or "scheduled") and its info. On the wire
// it is a two-element list.
type TaskState struct {
	State string
	Info  TaskInfo
}

// MarshalJSON writes [state, info].
func (s TaskState) MarshalJSON() ([]byte, error) {
	return pyjson.Encode([]any{s.State, s.Info})
}

// UnmarshalJSON reads [state, info].
func (s *TaskState) UnmarshalJSON(b []byte) error {
	var pair []any
	if err := pyjson.Unmarshal(b, &pair); err != nil {
		return err
	}
	if len(pair) != 2 {
		return fmt.Errorf("control: query_task entry has %d elements, want 2", len(pair))
	}
	state, ok := pair[0].(string)
	if !ok {
		return errors.New("control: query_task state is not a string")
	}
	var info TaskInfo
	if err := pyjson.Assign(pair[1], &info); err != nil {
		return err
	}
	*s = TaskState{State: state, Info: info}
	return nil
}

// QueueInfo is one queue of active_queues (kombu Queue.as_dict with
// recurse=True).
type QueueInfo struct {
	Name             string         `json:"name"`
	Exchange         ExchangeInfo   `json:"exchange"`
	RoutingKey       string         `json:"routing_key"`
	QueueArguments   map[string]any `json:"queue_arguments"`
	BindingArguments map[string]any `json:"binding_arguments"`
	ConsumerArgs     map[string]any `json:"consumer_arguments"`
	Durable          bool           `json:"durable"`
	Exclusive        bool           `json:"exclusive"`
	AutoDelete       bool           `json:"auto_delete"`
	NoAck            bool           `json:"no_ack"`
	Alias            *string        `json:"alias"`
	Bindings         []any          `json:"bindings"`
	NoDeclare        *bool          `json:"no_declare"`
	Expires          *float64       `json:"expires"`
	MessageTTL       *float64       `json:"message_ttl"`
	MaxLength        *int           `json:"max_length"`
	MaxLengthBytes   *int           `json:"max_length_bytes"`
	MaxPriority      *int           `json:"max_priority"`
}

// ExchangeInfo is a queue's exchange (kombu Exchange.as_dict).
type ExchangeInfo struct {
	Name         string         `json:"name"`
	Type         string         `json:"type"`
	Arguments    map[string]any `json:"arguments"`
	Durable      bool           `json:"durable"`
	Passive      bool           `json:"passive"`
	AutoDelete   bool           `json:"auto_delete"`
	DeliveryMode *int           `json:"delivery_mode"`
	NoDeclare    bool           `json:"no_declare"`
}

// ClockValue is the reply to clock.
type ClockValue struct {
	Clock int64 `json:"clock"`
}

// Conf is the reply to conf: setting name → value. Settings are
// arbitrary, so it stays a map.
type Conf map[string]any

// NodeError is one node's failed reply to a typed request: the node
// answered {"error": ...} (Message), or its reply did not have the shape
// of the requested type (Err). The typed methods return the nodes that
// answered well and, joined into their error, one NodeError per node that
// did not.
type NodeError struct {
	Node    string
	Message string
	Err     error
}

// Error implements error.
func (e *NodeError) Error() string {
	if e.Err != nil {
		return "control: reply of " + e.Node + ": " + e.Err.Error()
	}
	return "control: " + e.Node + " answered error: " + e.Message
}

// Unwrap returns the decoding error, if any.
func (e *NodeError) Unwrap() error { return e.Err }

// WithoutNodeErrors returns err without the NodeErrors a typed method
// joined into it: what is left failed the broadcast itself (nil if
// nothing did).
func WithoutNodeErrors(err error) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var keep []error
	for _, e := range errs {
		var ne *NodeError
		if !errors.As(e, &ne) {
			keep = append(keep, e)
		}
	}
	return errors.Join(keep...)
}

// decodeReplies decodes each node's reply into T. A node answering
// {"error": ...} or a reply of another shape becomes a NodeError; err (the
// collection's) is joined after them.
func decodeReplies[T any](replies map[string]any, err error) (map[string]T, error) {
	out := make(map[string]T, len(replies))
	var errs []error
	for node, v := range replies {
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			if msg, isErr := m["error"]; isErr {
				s, ok := msg.(string)
				if !ok {
					s = pyjson.PyRepr(msg)
				}
				errs = append(errs, &NodeError{Node: node, Message: s})
				continue
			}
		}
		var t T
		if derr := pyjson.Assign(v, &t); derr != nil {
			errs = append(errs, &NodeError{Node: node, Err: derr})
			continue
		}
		out[node] = t
	}
	return out, errors.Join(append(errs, err)...)
}

// decodeStatus decodes ok/error replies: an error answer is a Status with
// Error set, not a NodeError.
func decodeStatus(replies map[string]any, err error) (map[string]Status, error) {
	out := make(map[string]Status, len(replies))
	var errs []error
	for node, v := range replies {
		var s Status
		if derr := pyjson.Assign(v, &s); derr != nil || (s.OK == "" && s.Error == "") {
			if derr == nil {
				derr = fmt.Errorf("not an ok/error reply: %s", pyjson.PyRepr(v))
			}
			errs = append(errs, &NodeError{Node: node, Err: derr})
			continue
		}
		out[node] = s
	}
	return out, errors.Join(append(errs, err)...)
}
