package worker

import (
	"context"
	"errors"

	"github.com/celeriac/celeriac/celery"
)

// ReplaceError asks the worker to replace the running task with a
// signature; build it with Replace and return it from the handler.
type ReplaceError struct {
	Sig celery.Signature
}

func (e *ReplaceError) Error() string { return "Replaced by new task" }

// Replace returns the error a handler returns to replace its task with
// sig (a task, chain, group or chord), as Celery's Task.replace: the
// replacement takes over the task id, so the result of the replacement
// (of a chain's last step; a group's results as a list) becomes the
// task's result for its callers; the task's callbacks and errbacks move
// to the replacement, its chord or group membership and the rest of its
// chain too. The replaced task itself stores no state (Celery raises
// Ignore after applying the replacement). A sig that is itself part of a
// chord, or an empty chain, fails the task with ImproperlyConfigured.
func Replace(sig celery.Signature) error { return &ReplaceError{Sig: sig} }

// accumulateTask is Celery's built-in celery.accumulate (app/builtins.py):
// it returns its positional arguments, or the one at kwargs "index". A
// group replacing a task becomes a chord with it as the body.
const accumulateTask = "celery.accumulate"

// errImproperlyConfigured is celery.exceptions.ImproperlyConfigured.
func errImproperlyConfigured(msg string) error {
	return &PyError{Type: "ImproperlyConfigured", Module: celeryExc, Args: []any{msg}}
}

// replaced applies the replacement of r's task (Task.replace): sig, with
// the task id and what the message carries moved onto it, applied with
// the task as parent and the rest of its chain following. It reports an
// error when the replacement is invalid or could not be published; the
// task then fails.
func (w *Worker) replaced(ctx context.Context, r *request, re *ReplaceError) error {
	msg := r.msg
	sig := re.Sig
	if _, ok := sig.Options["chord"]; ok {
		return errImproperlyConfigured("A signature replacing a task must not be part of a chord")
	}
	mv := replaceMove{msg: msg}
	if sig.SubtaskType == celery.SubtaskChain {
		// Every step gets the errbacks (chain.link_error); the last one
		// takes the task id, callbacks and membership.
		steps, err := sig.Tasks()
		if err != nil {
			return err
		}
		if len(steps) == 0 {
			return errImproperlyConfigured("Cannot replace with an empty chain")
		}
		for i := range steps[:len(steps)-1] {
			steps[i] = withErrbacks(steps[i], msg.Embed.Errbacks).Set("replaced_task_nesting", mv.nesting())
		}
		if steps[len(steps)-1], err = mv.target(steps[len(steps)-1], 0); err != nil {
			return err
		}
		opts := sig.Options
		sig = celery.Chain(steps...)
		sig.Options = opts
	} else {
		var err error
		if sig, err = mv.target(sig, 0); err != nil {
			return err
		}
	}
	// The rest of the task's chain follows the replacement, each step
	// marked with the nesting level as Celery does.
	rest := make([]celery.Signature, len(msg.Embed.Chain))
	for i, s := range msg.Embed.Chain {
		rest[i] = s.Set("replaced_task_nesting", mv.nesting())
	}
	info := celery.ApplyInfo{ParentID: msg.ID, RootID: rootOf(msg), Chain: rest}
	if _, err := w.canvas.client().ApplyCanvas(context.WithoutCancel(ctx), sig, info); err != nil {
		return err
	}
	w.o.logger.Info("Task "+msg.Name()+"["+msg.ID+"] replaced", "task_id", msg.ID, "replacement", sig.Task)
	return nil
}

// replaceMove moves what a replaced task's message carries onto the
// signature whose result stands for the replacement.
type replaceMove struct{ msg *celery.Message }

// nesting is the replacement's replaced_task_nesting header: one more
// than the replaced task's.
func (mv replaceMove) nesting() int { return mv.msg.ReplacedTaskNesting + 1 }

// target returns s with the task id, callbacks, errbacks and chord/group
// membership of the replaced task set on the task whose result is s's: a
// plain task itself, a chain's last step, a chord's body; a group becomes
// a chord with celery.accumulate(index=0) as its body, as Celery does.
func (mv replaceMove) target(s celery.Signature, depth int) (celery.Signature, error) {
	if depth > 16 {
		return s, errors.New("worker: replacement nested too deeply")
	}
	switch s.SubtaskType {
	case celery.SubtaskGroup:
		tasks, err := s.Tasks()
		if err != nil {
			return s, err
		}
		acc := celery.S(accumulateTask).WithKwargs(map[string]any{"index": 0})
		return mv.target(celery.Chord(tasks, acc), depth+1)
	case celery.SubtaskChord:
		header, err := s.Tasks()
		if err != nil {
			return s, err
		}
		body, err := s.Body()
		if err != nil {
			return s, err
		}
		if body, err = mv.target(body, depth+1); err != nil {
			return s, err
		}
		ch := celery.Chord(header, body)
		ch.Options = s.Options
		return ch, nil
	case celery.SubtaskChain:
		steps, err := s.Tasks()
		if err != nil || len(steps) == 0 {
			return s, errImproperlyConfigured("Cannot replace with an empty chain")
		}
		if steps[len(steps)-1], err = mv.target(steps[len(steps)-1], depth+1); err != nil {
			return s, err
		}
		ch := celery.Chain(steps...)
		ch.Options = s.Options
		return ch, nil
	}
	msg := mv.msg
	s = s.Set("task_id", msg.ID).Set("replaced_task_nesting", mv.nesting())
	if len(msg.Embed.Callbacks) > 0 {
		s = s.WithLink(msg.Embed.Callbacks...)
	}
	s = withErrbacks(s, msg.Embed.Errbacks)
	if msg.Group != "" {
		s = s.Set("group_id", msg.Group)
		if msg.GroupIdx != nil {
			s = s.Set("group_index", *msg.GroupIdx)
		}
	}
	if msg.Embed.Chord != nil {
		s = s.Set("chord", *msg.Embed.Chord)
	}
	return s, nil
}

func withErrbacks(s celery.Signature, ebs []celery.Signature) celery.Signature {
	if len(ebs) == 0 {
		return s
	}
	return s.WithLinkError(ebs...)
}

// registerAccumulate adds Celery's celery.accumulate task unless the mux
// has it.
func (mux *ServeMux) registerAccumulate() {
	mux.mu.RLock()
	_, exists := mux.m[accumulateTask]
	mux.mu.RUnlock()
	if exists {
		return
	}
	mux.HandleFunc(accumulateTask, func(_ context.Context, t *Task) (any, error) {
		if v, ok := t.Kwargs["index"]; ok && v != nil {
			i := optIndex(v)
			if i == nil || *i < 0 || *i >= len(t.Args) {
				return nil, &PyError{Type: "IndexError", Module: "builtins", Args: []any{"tuple index out of range"}}
			}
			return t.Args[*i], nil
		}
		args := t.Args
		if args == nil {
			args = []any{}
		}
		return args, nil
	})
}
