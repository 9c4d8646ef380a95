package events

import (
	"fmt"
	"time"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// Typed is an event as a Go value: one of the *Task...Event and
// *Worker...Event types below, or *Unknown for a type this package does
// not model. A Dispatcher sends them (Emit) and a Receiver hands them out.
type Typed interface {
	// EventType is the wire type, e.g. "task-succeeded".
	EventType() string
	// EventHeader returns the fields every event has.
	EventHeader() *Header
}

// Header holds the fields every event carries. A Dispatcher stamps them
// on sending (celery/events/dispatcher.py EventDispatcher.send); a
// Receiver adds LocalReceived.
type Header struct {
	Type     string `json:"type"`
	Hostname string `json:"hostname"`
	// Timestamp is when the event was sent, in Unix seconds.
	Timestamp float64 `json:"timestamp"`
	// UTCOffset is the sender's zone in hours west of UTC (see
	// UTCOffset): a float from Celery 5.7 and celeriac, an int from older
	// Celery.
	UTCOffset float64 `json:"utcoffset"`
	// PID is the sender's process id; for task-started, the process
	// running the task.
	PID int `json:"pid"`
	// Clock is the sender's Lamport clock (for task-sent, the receiver's:
	// clients do not keep one).
	Clock int64 `json:"clock"`
	// LocalReceived is when the Receiver got the event, in Unix seconds;
	// zero on sending.
	LocalReceived float64 `json:"local_received,omitempty"`
	// Raw is the received event exactly as decoded from the wire, with
	// fields no type models; nil on events built to send.
	Raw Event `json:"-"`
}

// EventHeader returns h.
func (h *Header) EventHeader() *Header { return h }

// Time returns Timestamp as a time.
func (h *Header) Time() time.Time { return time.UnixMicro(int64(h.Timestamp * 1e6)) }

// TaskSentEvent is task-sent: a client published a task
// (celery/app/amqp.py send_task_message).
type TaskSentEvent struct {
	Header
	UUID     string  `json:"uuid"`
	RootID   *string `json:"root_id"`
	ParentID *string `json:"parent_id"`
	Name     string  `json:"name"`
	// Args and Kwargs are the arguments' Python repr.
	Args    string `json:"args"`
	Kwargs  string `json:"kwargs"`
	Retries int    `json:"retries"`
	// ETA and Expires are ISO 8601 times, nil when not set.
	ETA        *string `json:"eta"`
	Expires    *string `json:"expires"`
	Queue      string  `json:"queue"`
	Exchange   string  `json:"exchange"`
	RoutingKey string  `json:"routing_key"`
}

// TaskReceivedEvent is task-received: a worker took a task from its queue
// (celery/worker/strategy.py).
type TaskReceivedEvent struct {
	Header
	UUID string `json:"uuid"`
	Name string `json:"name"`
	// Args and Kwargs are the arguments' Python repr.
	Args     string  `json:"args"`
	Kwargs   string  `json:"kwargs"`
	RootID   *string `json:"root_id"`
	ParentID *string `json:"parent_id"`
	Retries  int     `json:"retries"`
	// ETA and Expires are ISO 8601 times, nil when not set.
	ETA     *string `json:"eta"`
	Expires *string `json:"expires"`
}

// TaskStartedEvent is task-started; Header.PID is the process running it.
type TaskStartedEvent struct {
	Header
	UUID string `json:"uuid"`
}

// TaskSucceededEvent is task-succeeded.
type TaskSucceededEvent struct {
	Header
	UUID string `json:"uuid"`
	// Result is the return value's (shortened) Python repr.
	Result string `json:"result"`
	// Runtime is in seconds.
	Runtime float64 `json:"runtime"`
}

// TaskFailedEvent is task-failed. A task the worker does not know fails
// without a traceback (Celery sends none then either).
type TaskFailedEvent struct {
	Header
	UUID string `json:"uuid"`
	// Exception is the exception's Python repr, e.g. "ValueError('x')".
	Exception string `json:"exception"`
	Traceback string `json:"traceback,omitempty"`
}

// TaskRetriedEvent is task-retried.
type TaskRetriedEvent struct {
	Header
	UUID string `json:"uuid"`
	// Exception is the reason's Python repr, e.g. "Retry('Retry in 5s')".
	Exception string `json:"exception"`
	Traceback string `json:"traceback"`
}

// TaskRevokedEvent is task-revoked: a revoked task was discarded
// (Terminated false), stopped while running (Terminated, with Signum),
// or expired (Expired).
type TaskRevokedEvent struct {
	Header
	UUID       string `json:"uuid"`
	Terminated bool   `json:"terminated"`
	Signum     *int   `json:"signum"`
	Expired    bool   `json:"expired"`
}

// TaskRejectedEvent is task-rejected: a task rejected by Reject,
// requeued or not.
type TaskRejectedEvent struct {
	Header
	UUID    string `json:"uuid"`
	Requeue bool   `json:"requeue"`
}

// WorkerState is the body of the worker-* events
// (celery/worker/heartbeat.py Heart._send).
type WorkerState struct {
	SWIdent string `json:"sw_ident"`
	SWVer   string `json:"sw_ver"`
	SWSys   string `json:"sw_sys"`
	// Freq is the heartbeat interval in seconds (a float on the wire).
	Freq float64 `json:"freq"`
	// Active and Processed count the worker's running and finished
	// tasks; Loadavg is the 1, 5 and 15 minute load. They are absent from
	// the heartbeat a heartbeat control command asks for.
	Active    *int      `json:"active,omitempty"`
	Processed *int64    `json:"processed,omitempty"`
	Loadavg   []float64 `json:"loadavg,omitempty"`
}

// WorkerOnlineEvent is worker-online.
type WorkerOnlineEvent struct {
	Header
	WorkerState
}

// WorkerHeartbeatEvent is worker-heartbeat.
type WorkerHeartbeatEvent struct {
	Header
	WorkerState
}

// WorkerOfflineEvent is worker-offline.
type WorkerOfflineEvent struct {
	Header
	WorkerState
}

// Unknown is an event of a type this package does not model; its fields
// are in Header.Raw.
type Unknown struct{ Header }

// EventType implementations.
func (*TaskSentEvent) EventType() string        { return TaskSent }
func (*TaskReceivedEvent) EventType() string    { return TaskReceived }
func (*TaskStartedEvent) EventType() string     { return TaskStarted }
func (*TaskSucceededEvent) EventType() string   { return TaskSucceeded }
func (*TaskFailedEvent) EventType() string      { return TaskFailed }
func (*TaskRetriedEvent) EventType() string     { return TaskRetried }
func (*TaskRevokedEvent) EventType() string     { return TaskRevoked }
func (*TaskRejectedEvent) EventType() string    { return TaskRejected }
func (*WorkerOnlineEvent) EventType() string    { return WorkerOnline }
func (*WorkerHeartbeatEvent) EventType() string { return WorkerHeartbeat }
func (*WorkerOfflineEvent) EventType() string   { return WorkerOffline }
func (u *Unknown) EventType() string            { return u.Type }

// newTyped returns an empty typed event for eventType (*Unknown when the
// type is not modelled).
func newTyped(eventType string) Typed {
	switch eventType {
	case TaskSent:
		return &TaskSentEvent{}
	case TaskReceived:
		return &TaskReceivedEvent{}
	case TaskStarted:
		return &TaskStartedEvent{}
	case TaskSucceeded:
		return &TaskSucceededEvent{}
	case TaskFailed:
		return &TaskFailedEvent{}
	case TaskRetried:
		return &TaskRetriedEvent{}
	case TaskRevoked:
		return &TaskRevokedEvent{}
	case TaskRejected:
		return &TaskRejectedEvent{}
	case WorkerOnline:
		return &WorkerOnlineEvent{}
	case WorkerHeartbeat:
		return &WorkerHeartbeatEvent{}
	case WorkerOffline:
		return &WorkerOfflineEvent{}
	}
	return &Unknown{}
}

// Parse turns an event as decoded from the wire into its typed form, with
// the map kept as Header.Raw. An event whose fields do not have the
// expected JSON types comes back as *Unknown (header fields filled where
// they decode) with the error.
func Parse(e Event) (Typed, error) {
	t := newTyped(e.Type())
	if err := pyjson.Assign(map[string]any(e), t); err != nil {
		u := &Unknown{}
		h := &u.Header
		// Best effort: each header field that decodes.
		for k, p := range map[string]any{"hostname": &h.Hostname, "timestamp": &h.Timestamp, "utcoffset": &h.UTCOffset,
			"pid": &h.PID, "clock": &h.Clock, "local_received": &h.LocalReceived} {
			if v, ok := e[k]; ok {
				_ = pyjson.Assign(v, p)
			}
		}
		h.Type, h.Raw = e.Type(), e
		return u, fmt.Errorf("events: %s event: %w", e.Type(), err)
	}
	t.EventHeader().Raw = e
	return t, nil
}

// fielder is implemented by this package's typed events: fields puts the
// event's own fields (not the header) into e, so a Dispatcher sends typed
// events through the same encoding as maps (sorted keys, no reflection).
type fielder interface{ fields(e Event) }

// str is a nullable string as the wire carries it.
func str(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func (ev *TaskSentEvent) fields(e Event) {
	e["uuid"], e["root_id"], e["parent_id"], e["name"] = ev.UUID, str(ev.RootID), str(ev.ParentID), ev.Name
	e["args"], e["kwargs"], e["retries"], e["eta"] = ev.Args, ev.Kwargs, ev.Retries, str(ev.ETA)
	e["expires"], e["queue"], e["exchange"], e["routing_key"] = str(ev.Expires), ev.Queue, ev.Exchange, ev.RoutingKey
}

func (ev *TaskReceivedEvent) fields(e Event) {
	e["uuid"], e["name"], e["args"], e["kwargs"] = ev.UUID, ev.Name, ev.Args, ev.Kwargs
	e["root_id"], e["parent_id"], e["retries"] = str(ev.RootID), str(ev.ParentID), ev.Retries
	e["eta"], e["expires"] = str(ev.ETA), str(ev.Expires)
}

func (ev *TaskStartedEvent) fields(e Event) { e["uuid"] = ev.UUID }

func (ev *TaskSucceededEvent) fields(e Event) {
	e["uuid"], e["result"], e["runtime"] = ev.UUID, ev.Result, ev.Runtime
}

func (ev *TaskFailedEvent) fields(e Event) {
	e["uuid"], e["exception"] = ev.UUID, ev.Exception
	if ev.Traceback != "" {
		e["traceback"] = ev.Traceback
	}
}

func (ev *TaskRetriedEvent) fields(e Event) {
	e["uuid"], e["exception"], e["traceback"] = ev.UUID, ev.Exception, ev.Traceback
}

func (ev *TaskRevokedEvent) fields(e Event) {
	var signum any
	if ev.Signum != nil {
		signum = *ev.Signum
	}
	e["uuid"], e["terminated"], e["signum"], e["expired"] = ev.UUID, ev.Terminated, signum, ev.Expired
}

func (ev *TaskRejectedEvent) fields(e Event) { e["uuid"], e["requeue"] = ev.UUID, ev.Requeue }

func (st *WorkerState) fields(e Event) {
	e["sw_ident"], e["sw_ver"], e["sw_sys"], e["freq"] = st.SWIdent, st.SWVer, st.SWSys, st.Freq
	if st.Active != nil {
		e["active"] = *st.Active
	}
	if st.Processed != nil {
		e["processed"] = *st.Processed
	}
	if st.Loadavg != nil {
		e["loadavg"] = st.Loadavg
	}
}

// fields of Unknown are those of Raw but the header's.
func (u *Unknown) fields(e Event) {
	for k, v := range u.Raw {
		if _, header := e[k]; !header && k != "local_received" {
			e[k] = v
		}
	}
}
