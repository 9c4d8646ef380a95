package worker

import (
	"context"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// store writes a result meta. A final state (SUCCESS, FAILURE, REVOKED)
// that Redis refuses is retried with backoff (100 ms growing to 5 s) for up to
// storeRetryFor, or until ctx ends, since a Redis at maxmemory may take
// writes again soon; the error is returned when it was not stored.
func (w *Worker) store(ctx context.Context, m *celery.ResultMeta) error {
	state := m.Status
	raw, err := w.backend.EncodeMeta(m)
	if err != nil {
		// A value the serializer cannot encode fails the task with kombu's
		// EncodeError, as Celery's trace does, rather than leaving the
		// client waiting for a result that never comes.
		w.o.logger.Error("Task "+m.Name+"["+m.TaskID+"] result cannot be encoded: "+err.Error(), "task_id", m.TaskID, "state", m.Status)
		f := *m
		if f.Status == celery.StateSuccess {
			f.Status = celery.StateFailure
		}
		f.Result = celery.Exception("EncodeError", "kombu.exceptions", err.Error())
		f.Traceback = "Traceback (most recent call last):\n  File \"<go>\", in " + m.Name + "\nkombu.exceptions.EncodeError: " + err.Error() + "\n"
		if raw, err = w.backend.EncodeMeta(&f); err != nil {
			w.o.logger.Error("could not store result", "task_id", m.TaskID, "state", m.Status, "error", err)
			return err
		}
		state = f.Status
	}
	log := w.o.logger
	deadline := time.Now().Add(w.o.storeRetryFor)
	for attempt := 0; ; attempt++ {
		_, err := w.backend.StoreRaw(context.WithoutCancel(ctx), m.TaskID, state, raw)
		if err == nil {
			if attempt > 0 {
				log.Info("result stored after retrying", "task_id", m.TaskID, "state", state, "attempts", attempt+1)
			}
			return nil
		}
		if !state.Ready() || time.Now().After(deadline) || ctx.Err() != nil {
			log.Error("could not store result", "task_id", m.TaskID, "state", state, "attempts", attempt+1, "error", err)
			return err
		}
		if attempt == 0 {
			log.Warn("could not store result; retrying", "task_id", m.TaskID, "state", state, "retry_for", w.o.storeRetryFor, "error", err)
		}
		t := time.NewTimer(reconnect.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}.Delay(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// meta is the result meta of t's task in state, with the extended fields
// when result_extended is on.
func (w *Worker) meta(t *Task, state celery.State, result any) *celery.ResultMeta {
	msg := t.Message
	m := &celery.ResultMeta{
		TaskID: msg.ID, Status: state, Result: result, GroupID: msg.Group, ParentID: msg.ParentID,
	}
	if state.Ready() {
		m.DateDone = time.Now()
	}
	if w.o.resultExtended {
		m.Name, m.Args, m.Kwargs = msg.Task, msg.Args, msg.Kwargs
		m.Worker, m.Retries, m.Queue = w.o.hostname, msg.Retries, msg.Properties.DeliveryInfo.RoutingKey
		if m.Queue == "" {
			m.Queue = t.Queue
		}
	}
	return m
}
