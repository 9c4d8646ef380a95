package celery

import (
	"context"
	"errors"
)

// ChordPart is one header result of a chord.
type ChordPart struct {
	TaskID string
	State  State
	Result any
}

// ChordClaim is held by the worker that completed a chord: it must apply
// the body (or fail it) and then call Done.
type ChordClaim struct {
	GroupID string
	// Parts are the header results ordered by group index.
	Parts []ChordPart
	// done releases the claim (Done); set by the backend.
	done func(ctx context.Context, applied bool) error
}

// NewChordClaim returns the claim on chord gid with its header results;
// done releases it on the result backend (ChordClaim.Done).
func NewChordClaim(gid string, parts []ChordPart, done func(ctx context.Context, applied bool) error) *ChordClaim {
	return &ChordClaim{GroupID: gid, Parts: parts, done: done}
}

// Done releases the claim: after the body was applied the chord's keys
// are deleted and a "done" marker stops late duplicates; after a failure
// only the size key is dropped (Celery's behaviour).
func (cl *ChordClaim) Done(ctx context.Context, applied bool) error {
	if cl.done == nil {
		return nil
	}
	return cl.done(ctx, applied)
}

// GroupResult is a handle on the results of a group's members (Python's
// GroupResult).
type GroupResult struct {
	ID      string
	Results []*AsyncResult
	client  *Client
}

// GroupResult returns a handle on group id with the given member ids.
func (c *Client) GroupResult(id string, taskIDs ...string) *GroupResult {
	g := &GroupResult{ID: id, client: c}
	for _, t := range taskIDs {
		g.Results = append(g.Results, c.AsyncResult(t))
	}
	return g
}

// Join waits for every member and returns their results in order; the
// first failure is returned as its *TaskError.
func (g *GroupResult) Join(ctx context.Context) ([]any, error) {
	out := make([]any, len(g.Results))
	for i, r := range g.Results {
		if err := r.Get(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Completed returns how many members succeeded.
func (g *GroupResult) Completed(ctx context.Context) (int, error) {
	n := 0
	for _, r := range g.Results {
		s, err := r.State(ctx)
		if err != nil {
			return 0, err
		}
		if s == StateSuccess {
			n++
		}
	}
	return n, nil
}

// Ready reports whether every member has finished.
func (g *GroupResult) Ready(ctx context.Context) (bool, error) {
	for _, r := range g.Results {
		ok, err := r.Ready(ctx)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Save stores the group as Python's GroupResult.save does:
// celery-taskset-meta-<id> = {"result": [[id, null], [[[tid, null], null], …]]}.
func (g *GroupResult) Save(ctx context.Context) error {
	ids := make([]string, len(g.Results))
	for i, r := range g.Results {
		ids[i] = r.ID
	}
	return g.client.results.SaveGroup(ctx, g.ID, ids)
}

// ErrGroupNotFound is returned by RestoreGroup when nothing is saved.
var ErrGroupNotFound = errors.New("celery: group result not found")

// RestoreGroup loads a group saved by GroupResult.Save or Python's
// GroupResult.save.
func (c *Client) RestoreGroup(ctx context.Context, id string) (*GroupResult, error) {
	ids, err := c.results.GroupMembers(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.GroupResult(id, ids...), nil
}
