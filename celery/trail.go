package celery

// Trail is the entry a Python worker adds to the running task's
// children when it applies this canvas (Task.add_trail), in the form of
// celery.result's as_tuple, which the result meta stores and
// result_from_tuple reads back: [[id, null], null] for a task, [[group
// id, null], [member, ...]] for a group. A chain is recorded by its
// first step and a chord by its header group, as Python's chain.run and
// chord.run apply them (docs/wire.md#result-children). It returns nil
// when there is nothing to record.
func (r *CanvasResult) Trail() any {
	switch {
	case r == nil:
		return nil
	case r.First != nil:
		return r.First.Trail()
	case r.Header != nil:
		return r.Header.tuple()
	case r.Group != nil:
		return r.Group.tuple()
	case r.AsyncResult != nil && r.AsyncResult.ID != "":
		return taskTuple(r.AsyncResult.ID)
	}
	return nil
}

// taskTuple is AsyncResult.as_tuple of a result without parent.
func taskTuple(id string) any { return []any{[]any{id, nil}, nil} }

// tuple is GroupResult.as_tuple.
func (g *GroupResult) tuple() any {
	members := make([]any, 0, len(g.Results))
	for _, m := range g.Results {
		members = append(members, taskTuple(m.ID))
	}
	return []any{[]any{g.ID, nil}, members}
}
