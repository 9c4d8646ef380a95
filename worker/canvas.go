package worker

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// This file applies the canvas a finished task carries
// (docs/wire.md#applying-what-a-task-carries, docs/wire.md#chord-join):
// success callbacks and the next chain step, errbacks on final failure,
// and the Redis-backend chord join.

// canvas applies what finished tasks carry: it publishes callbacks,
// chain steps, errbacks and chord bodies through a client on the worker's
// transport and backend (made once, on first use), stores the failures it
// propagates with store, and joins chords in the backend.
type canvas struct {
	broker  celery.Transport
	backend celery.ResultBackend
	log     *slog.Logger
	store   func(ctx context.Context, m *celery.ResultMeta) error
	signer  celery.BodySigner // signs what it publishes (WithSecurity); nil: unsigned
	routes  *celery.Routes    // routes what it publishes (WithRoutes); nil: none
	once    sync.Once
	c       *celery.Client
}

// client returns the client that publishes canvas messages.
func (cv *canvas) client() *celery.Client {
	cv.once.Do(func() {
		opts := []celery.ClientOption{celery.WithSigner(cv.signer)}
		if cv.routes != nil {
			opts = append(opts, celery.WithRouter(cv.routes))
		}
		cv.c = celery.NewClient(cv.broker, cv.backend, opts...)
	})
	return cv.c
}

func rootOf(msg *celery.Message) string {
	if msg.RootID != "" {
		return msg.RootID
	}
	return msg.ID
}

// onSuccess applies msg's callbacks and next chain step with result
// prepended, as Celery's trace does before the result is stored. It
// returns the trail of what it applied, the result's children
// (docs/wire.md#result-children).
func (cv *canvas) onSuccess(ctx context.Context, msg *celery.Message, result any) (children []any) {
	if len(msg.Embed.Callbacks) == 0 && len(msg.Embed.Chain) == 0 {
		return nil
	}
	trail := func(r *celery.CanvasResult) {
		if t := r.Trail(); t != nil {
			children = append(children, t)
		}
	}
	ctx = context.WithoutCancel(ctx)
	c := cv.client()
	info := celery.ApplyInfo{Args: []any{result}, ParentID: msg.ID, RootID: rootOf(msg)}
	cbs := msg.Embed.Callbacks
	if len(cbs) == 1 {
		trail(cv.applySig(ctx, c, cbs[0], info))
	} else if len(cbs) > 1 {
		// Several callbacks: plain ones are sent together as a group,
		// groups are applied on their own (Celery 5).
		var plain []celery.Signature
		for _, cb := range cbs {
			if cb.SubtaskType == celery.SubtaskGroup {
				trail(cv.applySig(ctx, c, cb, info))
			} else {
				plain = append(plain, cb)
			}
		}
		if len(plain) > 0 {
			trail(cv.applySig(ctx, c, celery.NewGroup(plain...), info))
		}
	}
	if n := len(msg.Embed.Chain); n > 0 {
		next := msg.Embed.Chain[n-1]
		info.Chain = msg.Embed.Chain[:n-1]
		trail(cv.applySig(ctx, c, next, info))
	}
	return children
}

// applySig applies sig; it logs a failure and returns nil.
func (cv *canvas) applySig(ctx context.Context, c *celery.Client, sig celery.Signature, info celery.ApplyInfo) *celery.CanvasResult {
	r, err := c.ApplyCanvas(ctx, sig, info)
	if err != nil {
		cv.log.Error("could not apply signature", "task", sig.Task, "parent_id", info.ParentID, "error", err)
		return nil
	}
	return r
}

// onFailure runs after a final failure of msg was stored: the remaining
// chain steps are failed too, the errbacks are sent with the failed task
// id as their first argument, and a chord header member reports.
func (cv *canvas) onFailure(ctx context.Context, msg *celery.Message, exc map[string]any, tb string) {
	ctx = context.WithoutCancel(ctx)
	c := cv.client()
	for _, step := range msg.Embed.Chain {
		if step.SubtaskType != "" {
			// A chord step completes through its body (HEAD's _fail_chain
			// descends into it); a chain body is failed step by step.
			cv.failComposite(ctx, step, exc, tb, 0)
			continue
		}
		id := step.ID()
		if id == "" {
			continue
		}
		cv.storeFailed(ctx, id, step.Task, exc, tb)
		if ch, ok := step.Options["chord"]; ok && ch != nil {
			gid, _ := step.Options["group_id"].(string)
			idx := optIndex(step.Options["group_index"])
			if body, err := celery.AsSignature(ch); err == nil && gid != "" {
				cv.chordPart(ctx, c, id, rootOf(msg), gid, idx, body, celery.StateFailure, exc)
			}
		}
	}
	for _, eb := range msg.Embed.Errbacks {
		cv.applySig(ctx, c, eb, celery.ApplyInfo{Args: []any{msg.ID}, ParentID: msg.ID, RootID: rootOf(msg)})
	}
	cv.chordMember(ctx, msg, celery.StateFailure, exc)
}

// failComposite marks the tasks whose results stand for a chord or chain
// signature (its body, its steps) as failed.
func (cv *canvas) failComposite(ctx context.Context, sig celery.Signature, exc map[string]any, tb string, depth int) {
	if depth > 16 {
		return
	}
	var subs []celery.Signature
	switch sig.SubtaskType {
	case "":
		if id := sig.ID(); id != "" {
			cv.storeFailed(ctx, id, sig.Task, exc, tb)
		}
		return
	case celery.SubtaskChord:
		if body, err := sig.Body(); err == nil {
			subs = []celery.Signature{body}
		}
	case celery.SubtaskChain:
		subs, _ = sig.Tasks()
	}
	for _, s := range subs {
		cv.failComposite(ctx, s, exc, tb, depth+1)
	}
}

func (cv *canvas) storeFailed(ctx context.Context, id, name string, exc map[string]any, tb string) {
	cv.store(ctx, &celery.ResultMeta{TaskID: id, Name: name, Status: celery.StateFailure, Result: exc, Traceback: tb, DateDone: time.Now()})
}

// chordMember reports msg's outcome to its chord, if it is a header task.
func (cv *canvas) chordMember(ctx context.Context, msg *celery.Message, state celery.State, result any) {
	if msg.Embed.Chord == nil || msg.Group == "" {
		return
	}
	cv.chordPart(context.WithoutCancel(ctx), cv.client(), msg.ID, rootOf(msg), msg.Group, msg.GroupIdx, *msg.Embed.Chord, state, result)
}

// chordPart records one header result of chord gid and, when it was the
// last, applies the body with the ordered results or fails it with a
// ChordError (redis.py on_chord_part_return).
func (cv *canvas) chordPart(ctx context.Context, c *celery.Client, taskID, rootID, gid string, idx *int, body celery.Signature, state celery.State, result any) {
	log := cv.log
	cl, err := cv.backend.ChordPartReturn(ctx, gid, idx, taskID, state, result)
	if err != nil {
		log.Error("chord part return failed", "group_id", gid, "task_id", taskID, "error", err)
		return
	}
	if cl == nil {
		return
	}
	results := make([]any, 0, len(cl.Parts))
	for _, p := range cl.Parts {
		if p.State == celery.StateFailure || p.State == celery.StateRevoked {
			repr := string(p.State)
			if m, ok := p.Result.(map[string]any); ok {
				repr = excRepr(m)
			}
			cv.chordError(ctx, c, body, "Dependency "+p.TaskID+" raised "+repr)
			if err := cl.Done(ctx, false); err != nil {
				log.Error("chord cleanup failed", "group_id", gid, "error", err)
			}
			return
		}
		results = append(results, p.Result)
	}
	_, err = c.ApplyCanvas(ctx, body, celery.ApplyInfo{Args: []any{results}, ParentID: taskID, RootID: rootID})
	if err != nil {
		log.Error("chord callback failed", "group_id", gid, "error", err)
		cv.chordError(ctx, c, body, "Callback error: "+err.Error())
		_ = cl.Done(ctx, false)
		return
	}
	if err := cl.Done(ctx, true); err != nil {
		log.Error("chord cleanup failed", "group_id", gid, "error", err)
	}
}

// chordError stores a ChordError under the body's task id(s) and fires
// the body's link_error (backends/base.py chord_error_from_stack).
func (cv *canvas) chordError(ctx context.Context, c *celery.Client, body celery.Signature, msg string) {
	exc := celery.Exception("ChordError", celeryExc, msg)
	tb := "Traceback (most recent call last):\n  File \"<go>\", in chord\ncelery.exceptions.ChordError: " + msg + "\n"
	cv.log.Error("Chord callback failed: "+msg, "task", body.Task)
	targets := []celery.Signature{body}
	if body.SubtaskType != "" {
		if ts, err := body.Tasks(); err == nil {
			targets = ts
		}
	}
	for _, t := range targets {
		id := t.ID()
		if id == "" {
			continue
		}
		cv.storeFailed(ctx, id, t.Task, exc, tb)
		ebs, _ := t.Options["link_error"].([]any)
		if m, ok := t.Options["link_error"].(map[string]any); ok {
			ebs = []any{m}
		}
		for _, v := range ebs {
			eb, err := celery.AsSignature(v)
			if err != nil {
				continue
			}
			cv.applySig(ctx, c, eb, celery.ApplyInfo{Args: []any{id}, ParentID: id, RootID: id})
		}
	}
}

// optIndex reads a group_index option (a JSON number), nil when absent.
func optIndex(v any) *int {
	var i int
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return nil
		}
		i = int(n)
	case float64:
		i = int(x)
	case int:
		i = x
	default:
		return nil
	}
	return &i
}

// registerBuiltins adds Celery's celery.map and celery.starmap tasks
// (app/builtins.py), which run a registered task over many arguments
// in-process, unless the mux already has them.
func (mux *ServeMux) registerBuiltins() {
	for name, star := range map[string]bool{"celery.map": false, "celery.starmap": true} {
		mux.mu.RLock()
		_, exists := mux.m[name]
		mux.mu.RUnlock()
		if !exists {
			mux.HandleFunc(name, func(ctx context.Context, t *Task) (any, error) { return mapTask(ctx, t, star) })
		}
	}
}

// mapTask calls the task named in kwargs "task" once per element of
// kwargs "it" (its only argument, or its argument list for starmap) and
// returns the results in order.
func mapTask(ctx context.Context, t *Task, star bool) (any, error) {
	sigMap, _ := t.Kwargs["task"].(map[string]any)
	sig, err := celery.SignatureFromMap(sigMap)
	if err != nil {
		return nil, typeError("%s: %v", t.Task, err)
	}
	items, ok := t.Kwargs["it"].([]any)
	if !ok {
		return nil, typeError("%s: it must be a list", t.Task)
	}
	e, h := t.w.mux.lookup(sig.Task)
	if e == nil {
		return nil, &PyError{Type: "NotRegistered", Module: celeryExc, Args: []any{sig.Task}}
	}
	out := make([]any, 0, len(items))
	for _, item := range items {
		args := []any{item}
		if star {
			if args, ok = item.([]any); !ok {
				return nil, typeError("%s: each item must be a list of arguments", t.Task)
			}
		}
		m := *t.Message
		m.Task, m.Args, m.Kwargs = sig.Task, args, sig.Kwargs
		if m.Kwargs == nil {
			m.Kwargs = map[string]any{}
		}
		sub := *t
		sub.Message, sub.entry = &m, e
		res, err := h.ProcessTask(ctx, &sub)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}
