package celery

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Subtask types of composite signatures (canvas.py;
// docs/wire.md#composite-signatures).
const (
	SubtaskChain = "chain"
	SubtaskGroup = "group"
	SubtaskChord = "chord"
	// SubtaskXMap, SubtaskXStarmap and SubtaskChunks are map, starmap and
	// chunks: one message runs a task over many arguments in the worker.
	SubtaskXMap     = "xmap"
	SubtaskXStarmap = "xstarmap"
	SubtaskChunks   = "chunks"
)

// S returns a signature of task with positional args, as Python's
// task.s(*args).
func S(task string, args ...any) Signature { return Signature{Task: task, Args: args} }

// Si returns an immutable signature of task (task.si(*args)): it ignores
// the result of a parent.
func Si(task string, args ...any) Signature {
	return Signature{Task: task, Args: args, Immutable: true}
}

// Set returns a copy of s with option key set to v (sig.set(key=v)).
// Signature values (link, link_error, chord) are stored as dicts.
func (s Signature) Set(key string, v any) Signature {
	opts := maps.Clone(s.Options)
	if opts == nil {
		opts = map[string]any{}
	}
	switch x := v.(type) {
	case Signature:
		v = x.Map()
	case []Signature:
		l := make([]any, len(x))
		for i, sg := range x {
			l[i] = sg.Map()
		}
		v = l
	}
	opts[key] = v
	s.Options = opts
	return s
}

// WithKwargs returns a copy of s with keyword arguments kw.
func (s Signature) WithKwargs(kw map[string]any) Signature {
	s.Kwargs = kw
	return s
}

// WithLink returns a copy of s with success callbacks added (sig.link).
func (s Signature) WithLink(sigs ...Signature) Signature {
	return s.appendOpt("link", sigs)
}

// WithLinkError returns a copy of s with errbacks added (sig.link_error).
func (s Signature) WithLinkError(sigs ...Signature) Signature {
	return s.appendOpt("link_error", sigs)
}

func (s Signature) appendOpt(key string, sigs []Signature) Signature {
	var l []any
	if old, ok := s.Options[key].([]any); ok {
		l = slices.Clone(old)
	} else if m, ok := s.Options[key].(map[string]any); ok {
		l = []any{m}
	}
	for _, sg := range sigs {
		l = append(l, sg.Map())
	}
	return s.Set(key, l)
}

func (s Signature) withOptions(o map[string]any) Signature {
	s.Options = o
	return s
}

// ID returns options.task_id ("" when not frozen).
func (s Signature) ID() string { id, _ := s.Options["task_id"].(string); return id }

// freeze returns s with a task_id assigned when it has none.
func (s Signature) freeze() Signature {
	if s.ID() != "" {
		return s
	}
	return s.Set("task_id", uuid.NewString())
}

// Chain returns a chain signature (celery.chain): each step receives the
// result of the previous one.
func Chain(sigs ...Signature) Signature {
	return Signature{Task: "celery.chain", SubtaskType: SubtaskChain, Kwargs: map[string]any{"tasks": sigMaps(sigs)}}
}

// NewGroup returns a group signature (celery.group): the members run in
// parallel. (Group is the SendOption setting a message's group header.)
func NewGroup(sigs ...Signature) Signature {
	return Signature{Task: "celery.group", SubtaskType: SubtaskGroup, Kwargs: map[string]any{"tasks": sigMaps(sigs)}}
}

// Chord returns a chord signature (celery.chord): body is applied with
// the list of the header's results once every header task is done.
func Chord(header []Signature, body Signature) Signature {
	return Signature{Task: "celery.chord", SubtaskType: SubtaskChord, Kwargs: map[string]any{
		"header": NewGroup(header...).Map(), "body": body.Map(), "kwargs": map[string]any{},
	}}
}

// Map returns task.map(items): one celery.map message whose worker calls
// task with each item as its only argument and returns the results.
func Map(task Signature, items []any) Signature {
	return Signature{Task: "celery.map", SubtaskType: SubtaskXMap, Kwargs: map[string]any{"task": task.Map(), "it": items}}
}

// Starmap returns task.starmap(items): like Map, but each item is a list
// of positional arguments.
func Starmap(task Signature, items [][]any) Signature {
	it := make([]any, len(items))
	for i, a := range items {
		it[i] = a
	}
	return Signature{Task: "celery.starmap", SubtaskType: SubtaskXStarmap, Kwargs: map[string]any{"task": task.Map(), "it": it}}
}

// Chunks returns task.chunks(items, n): the argument lists in items split
// into parts of n, each part a Starmap, applied as a group (as Celery's
// chunks.apply_async does).
func Chunks(task Signature, items [][]any, n int) Signature {
	it := make([]any, len(items))
	for i, a := range items {
		it[i] = a
	}
	return Signature{Task: "celery.chunks", SubtaskType: SubtaskChunks, Kwargs: map[string]any{"task": task.Map(), "it": it, "n": n}}
}

// chunksGroup expands a chunks signature into its group of starmaps.
func chunksGroup(sig Signature) (Signature, error) {
	taskMap, _ := sig.Kwargs["task"].(map[string]any)
	task, err := SignatureFromMap(taskMap)
	if err != nil {
		return Signature{}, fmt.Errorf("celery: chunks: %w", err)
	}
	it, _ := sig.Kwargs["it"].([]any)
	n, ok := asInt(sig.Kwargs["n"])
	if !ok || n < 1 {
		return Signature{}, fmt.Errorf("celery: chunks: n must be a positive integer")
	}
	var parts []Signature
	for i := 0; i < len(it); i += n {
		part := make([][]any, 0, n)
		for _, a := range it[i:min(i+n, len(it))] {
			args, ok := a.([]any)
			if !ok {
				return Signature{}, fmt.Errorf("celery: chunks: each item must be a list of arguments")
			}
			part = append(part, args)
		}
		parts = append(parts, Starmap(task, part))
	}
	g := NewGroup(parts...)
	g.Options = sig.Options
	return g, nil
}

func sigMaps(sigs []Signature) []any {
	l := make([]any, len(sigs))
	for i, s := range sigs {
		l[i] = s.Map()
	}
	return l
}

// AsSignature converts a Signature, *Signature or signature dict.
func AsSignature(v any) (Signature, error) {
	switch x := v.(type) {
	case Signature:
		return x, nil
	case *Signature:
		return *x, nil
	case map[string]any:
		return SignatureFromMap(x)
	}
	return Signature{}, fmt.Errorf("celery: %T is not a signature", v)
}

// Tasks returns the members of a chain or group signature, or the
// header tasks of a chord.
func (s Signature) Tasks() ([]Signature, error) {
	var raw any
	switch s.SubtaskType {
	case SubtaskChain, SubtaskGroup:
		raw = s.Kwargs["tasks"]
	case SubtaskChord:
		raw = s.Kwargs["header"]
		if m, ok := raw.(map[string]any); ok {
			h, err := SignatureFromMap(m)
			if err != nil {
				return nil, err
			}
			if h.SubtaskType != SubtaskGroup {
				return []Signature{h}, nil
			}
			return h.Tasks()
		}
	default:
		return nil, fmt.Errorf("celery: %s is not a composite signature", s.Task)
	}
	if m, ok := raw.(map[string]any); ok { // a group given as the tasks
		g, err := SignatureFromMap(m)
		if err != nil {
			return nil, err
		}
		return []Signature{g}, nil
	}
	l, ok := raw.([]any)
	if !ok && raw != nil {
		return nil, fmt.Errorf("celery: %s: tasks is not a list", s.Task)
	}
	out := make([]Signature, 0, len(l))
	for _, v := range l {
		sg, err := AsSignature(v)
		if err != nil {
			return nil, err
		}
		out = append(out, sg)
	}
	return out, nil
}

// Body returns the body of a chord signature.
func (s Signature) Body() (Signature, error) {
	if s.SubtaskType != SubtaskChord {
		return Signature{}, fmt.Errorf("celery: %s is not a chord", s.Task)
	}
	return AsSignature(s.Kwargs["body"])
}

// ApplyInfo is what the applier of a signature adds to it: the parent
// result (prepended to the args unless the signature is immutable), the
// parent and root task ids, and the remaining chain steps (reversed, next
// last) to embed in the task applied.
type ApplyInfo struct {
	Args     []any
	ParentID string
	RootID   string
	Chain    []Signature
}

// CanvasResult is the outcome of applying a signature: the task whose
// result is the canvas's (plain task, last chain step, chord body), or
// the GroupResult of a group.
type CanvasResult struct {
	*AsyncResult
	Group *GroupResult
	// First is the result of a chain's first step; Header is a chord's
	// header group. Trail reads them (trail.go).
	First  *CanvasResult
	Header *GroupResult
}

// ApplyCanvas publishes sig as Python's sig.apply_async does: a plain
// task as one message, a chain as its first step carrying the rest, a
// group as one message per member, a chord as its header members plus the
// chord size key (docs/wire.md#composite-signatures).
func (c *Client) ApplyCanvas(ctx context.Context, sig Signature, info ApplyInfo) (*CanvasResult, error) {
	return c.applyCanvas(ctx, sig, info, member{})
}

// member carries a group/chord membership down to the task that must
// report it (a chain's last step).
type member struct {
	groupID string
	index   *int
	chord   *Signature
}

func mergeArgs(sig Signature, args []any) Signature {
	if len(args) > 0 && !sig.Immutable {
		sig.Args = append(slices.Clone(args), sig.Args...)
	}
	return sig
}

func (c *Client) applyCanvas(ctx context.Context, sig Signature, info ApplyInfo, mb member) (*CanvasResult, error) {
	if v, ok := sig.Options["chain"]; ok {
		// The rest of a chain carried in the options (a chord body's:
		// canvas.py chord.run passes the chain on to the body); the caller's
		// chain wins, as call options win over a signature's in Python.
		rest, err := sigList(v)
		if err != nil {
			return nil, err
		}
		opts := maps.Clone(sig.Options)
		delete(opts, "chain")
		sig.Options = opts
		if len(info.Chain) == 0 {
			info.Chain = rest
		}
	}
	switch sig.SubtaskType {
	case "":
		r, err := c.applyTask(ctx, mergeArgs(sig, info.Args), info, mb)
		if err != nil {
			return nil, err
		}
		return &CanvasResult{AsyncResult: r}, nil
	case SubtaskChain:
		steps, err := sig.Tasks()
		if err != nil {
			return nil, err
		}
		// The remaining steps of an enclosing chain follow this one.
		for _, s := range slices.Backward(info.Chain) {
			steps = append(steps, s)
		}
		info.Chain = nil
		return c.applyChain(ctx, steps, info, mb)
	case SubtaskGroup:
		if len(info.Chain) > 0 { // group | s is a chord
			next := info.Chain[len(info.Chain)-1]
			tasks, err := sig.Tasks()
			if err != nil {
				return nil, err
			}
			ch := Chord(tasks, next)
			info.Chain = info.Chain[:len(info.Chain)-1]
			return c.applyCanvas(ctx, ch, info, mb)
		}
		g, err := c.applyGroup(ctx, sig, info, mb)
		if err != nil {
			return nil, err
		}
		return &CanvasResult{Group: g}, nil
	case SubtaskChord:
		return c.applyChord(ctx, sig, info, mb)
	case SubtaskXMap, SubtaskXStarmap:
		// One celery.map/celery.starmap message; a parent's result is not
		// passed on (Celery's _basemap ignores args).
		sig.SubtaskType, sig.Args = "", nil
		r, err := c.applyTask(ctx, sig, info, mb)
		if err != nil {
			return nil, err
		}
		return &CanvasResult{AsyncResult: r}, nil
	case SubtaskChunks:
		g, err := chunksGroup(sig)
		if err != nil {
			return nil, err
		}
		return c.applyCanvas(ctx, g, info, mb)
	}
	return nil, fmt.Errorf("celery: cannot apply a %s signature", sig.SubtaskType)
}

// flattenChain splices nested chains and upgrades group | s to a chord.
func flattenChain(steps []Signature) ([]Signature, error) {
	var out []Signature
	for i := 0; i < len(steps); i++ {
		s := steps[i]
		switch s.SubtaskType {
		case SubtaskChain:
			inner, err := s.Tasks()
			if err != nil {
				return nil, err
			}
			rest := append(slices.Clone(inner), steps[i+1:]...)
			tail, err := flattenChain(rest)
			if err != nil {
				return nil, err
			}
			return append(out, tail...), nil
		case SubtaskGroup:
			if i+1 < len(steps) && steps[i+1].SubtaskType == "" {
				tasks, err := s.Tasks()
				if err != nil {
					return nil, err
				}
				s = Chord(tasks, steps[i+1])
				i++
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func (c *Client) applyChain(ctx context.Context, steps []Signature, info ApplyInfo, mb member) (*CanvasResult, error) {
	steps, err := flattenChain(steps)
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("celery: empty chain")
	}
	for i := range steps {
		steps[i] = steps[i].freeze()
	}
	last := len(steps) - 1
	// A chain that ends in a group has the group's result (Python returns
	// its GroupResult): its members are frozen now, so their ids are known.
	var endGroup *GroupResult
	if last > 0 && mb.groupID == "" && steps[last].SubtaskType == SubtaskGroup {
		if g, ids, err := freezeGroup(steps[last]); err == nil {
			steps[last] = g
			endGroup = c.GroupResult(g.ID(), ids...)
		}
	}
	if mb.groupID != "" { // only the last step reports to the group/chord
		s := steps[last].Set("group_id", mb.groupID)
		if mb.index != nil {
			s = s.Set("group_index", *mb.index)
		}
		if mb.chord != nil {
			s = s.Set("chord", *mb.chord)
		}
		steps[last] = s
	}
	if info.RootID == "" {
		info.RootID = steps[0].ID()
	}
	rest := make([]Signature, 0, last)
	for i := last; i > 0; i-- {
		rest = append(rest, steps[i])
	}
	first := steps[0]
	info.Chain = rest
	res, err := c.applyCanvas(ctx, first, info, member{})
	if err != nil {
		return nil, err
	}
	if endGroup != nil {
		return &CanvasResult{Group: endGroup}, nil
	}
	if last > 0 {
		return &CanvasResult{AsyncResult: c.AsyncResult(steps[last].ID()), First: res}, nil
	}
	return res, nil
}

func (c *Client) applyGroup(ctx context.Context, sig Signature, info ApplyInfo, mb member) (*GroupResult, error) {
	tasks, err := sig.Tasks()
	if err != nil {
		return nil, err
	}
	gid := sig.ID()
	if gid == "" {
		gid = uuid.NewString()
	}
	return c.applyMembers(ctx, gid, tasks, info, nil, func(int) {})
}

// applyMembers publishes tasks as members of group gid (with chord when
// set), calling beforeLast before the last one is published.
func (c *Client) applyMembers(ctx context.Context, gid string, tasks []Signature, info ApplyInfo, chord *Signature, beforeLast func(n int)) (*GroupResult, error) {
	g := &GroupResult{ID: gid, client: c}
	for i, t := range tasks {
		if i == len(tasks)-1 {
			beforeLast(len(tasks))
		}
		t = t.freeze()
		idx := i
		mi := info
		mi.Chain = nil
		res, err := c.applyCanvas(ctx, t, mi, member{groupID: gid, index: &idx, chord: chord})
		if err != nil {
			return nil, err
		}
		if res.AsyncResult != nil {
			g.Results = append(g.Results, res.AsyncResult)
		} else {
			// A nested group: its members are joined as one.
			g.Results = append(g.Results, res.Group.Results...)
		}
	}
	return g, nil
}

func (c *Client) applyChord(ctx context.Context, sig Signature, info ApplyInfo, mb member) (*CanvasResult, error) {
	if cr, ok := c.results.(ChordRefuser); ok {
		if err := cr.EnsureChordsAllowed(); err != nil {
			return nil, err
		}
	}
	header, err := sig.Tasks()
	if err != nil {
		return nil, err
	}
	body, err := sig.Body()
	if err != nil {
		return nil, err
	}
	if len(info.Chain) > 0 { // the rest of an enclosing chain follows the body
		steps := []Signature{body}
		for _, s := range slices.Backward(info.Chain) {
			steps = append(steps, s)
		}
		body = Chain(steps...)
		info.Chain = nil
	}
	if mb.groupID != "" {
		// A chord inside a group/chord reports through its body.
		if mb.chord != nil {
			body = body.Set("chord", *mb.chord)
		}
		body = body.Set("group_id", mb.groupID)
		if mb.index != nil {
			body = body.Set("group_index", *mb.index)
		}
	}
	switch body.SubtaskType {
	case "":
		if body.ID() == "" && sig.ID() != "" {
			// A frozen chord's id is its body's (canvas.py chord.freeze).
			body = body.Set("task_id", sig.ID())
		}
		body = body.freeze()
	case SubtaskChain:
		// Freeze the steps now so the result can name the last one.
		steps, err := body.Tasks()
		if err != nil {
			return nil, err
		}
		if n := len(steps); n > 0 && sig.ID() != "" && steps[n-1].ID() == "" {
			steps[n-1] = steps[n-1].Set("task_id", sig.ID())
		}
		for i := range steps {
			steps[i] = steps[i].freeze()
		}
		body = Chain(steps...).withOptions(body.Options)
	}
	// A group in the header is unrolled into it (its members join the
	// chord's group and count in its size); a chord in the header is one
	// member that reports through its body (applyChord with mb).
	if header, err = unrollGroups(header, 0); err != nil {
		return nil, err
	}
	if len(header) == 0 {
		return c.applyCanvas(ctx, body, ApplyInfo{Args: []any{[]any{}}, ParentID: info.ParentID, RootID: info.RootID}, member{})
	}
	gid := uuid.NewString()
	var sizeErr error
	hr, err := c.applyMembers(ctx, gid, header, info, &body, func(n int) {
		sizeErr = c.results.SetChordSize(ctx, gid, n)
	})
	if err == nil {
		err = sizeErr
	}
	if err != nil {
		return nil, err
	}
	if body.SubtaskType == "" {
		return &CanvasResult{AsyncResult: c.AsyncResult(body.ID()), Header: hr}, nil
	}
	if body.SubtaskType == SubtaskChain {
		steps, err := body.Tasks()
		if err == nil && len(steps) > 0 && steps[len(steps)-1].ID() != "" {
			return &CanvasResult{AsyncResult: c.AsyncResult(steps[len(steps)-1].ID()), Header: hr}, nil
		}
	}
	return &CanvasResult{Header: hr}, nil
}

// freezeGroup returns group sig with its nested groups unrolled (as
// Celery flattens a group in a group) and an id on it and on every member,
// with the ids of the members' results (a chain member's is its last
// step's). Members that are neither tasks nor chains of tasks are not
// frozen: it then returns an error.
func freezeGroup(sig Signature) (Signature, []string, error) {
	tasks, err := sig.Tasks()
	if err != nil {
		return sig, nil, err
	}
	if tasks, err = unrollGroups(tasks, 0); err != nil {
		return sig, nil, err
	}
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		switch t.SubtaskType {
		case "":
			t = t.freeze()
			ids[i] = t.ID()
		case SubtaskChain:
			steps, err := t.Tasks()
			if err != nil || len(steps) == 0 || steps[len(steps)-1].SubtaskType != "" {
				return sig, nil, fmt.Errorf("celery: a group member chain does not end in a task")
			}
			for j := range steps {
				steps[j] = steps[j].freeze()
			}
			ids[i] = steps[len(steps)-1].ID()
			t = Chain(steps...).withOptions(t.Options)
		default:
			return sig, nil, fmt.Errorf("celery: cannot freeze a %s in a group", t.SubtaskType)
		}
		tasks[i] = t
	}
	g := NewGroup(tasks...).withOptions(sig.Options).freeze()
	return g, ids, nil
}

// maxNesting bounds the recursion into nested canvases.
const maxNesting = 32

// unrollGroups replaces each group in sigs by its members, recursively,
// as Celery's chord does with groups in its header.
func unrollGroups(sigs []Signature, depth int) ([]Signature, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("celery: groups nested deeper than %d", maxNesting)
	}
	out := make([]Signature, 0, len(sigs))
	for _, s := range sigs {
		if s.SubtaskType != SubtaskGroup {
			out = append(out, s)
			continue
		}
		tasks, err := s.Tasks()
		if err != nil {
			return nil, err
		}
		inner, err := unrollGroups(tasks, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, inner...)
	}
	return out, nil
}

// applyTask publishes one plain signature (args already merged).
func (c *Client) applyTask(ctx context.Context, sig Signature, info ApplyInfo, mb member) (*AsyncResult, error) {
	sig = sig.freeze()
	opts, err := canvasOptions(sig)
	if err != nil {
		return nil, err
	}
	parent, root := info.ParentID, info.RootID
	if p, ok := sig.Options["parent_id"].(string); ok && p != "" {
		parent = p
	}
	if r, ok := sig.Options["root_id"].(string); ok && r != "" {
		root = r
	}
	if root == "" {
		root = sig.ID()
	}
	opts = append(opts, Parent(parent, root))
	if mb.groupID != "" {
		opts = append(opts, Group(mb.groupID, *mb.index))
	}
	chain := info.Chain
	opts = append(opts, WithMessage(func(m *Message) {
		m.Embed.Chain = chain
		if mb.chord != nil {
			ch := *mb.chord
			m.Embed.Chord = &ch
		}
	}))
	return c.SendTask(ctx, sig.Task, opts...)
}

// canvasOptions extends sigOptions with the options only canvases set.
func canvasOptions(sig Signature) ([]SendOption, error) {
	opts, err := sigOptions(sig)
	if err != nil {
		return nil, err
	}
	o := sig.Options
	if g, ok := o["group_id"].(string); ok && g != "" {
		idx, _ := asInt(o["group_index"])
		if _, has := o["group_index"]; has && o["group_index"] != nil {
			opts = append(opts, Group(g, idx))
		} else {
			opts = append(opts, WithMessage(func(m *Message) { m.Group = g }))
		}
	}
	if v, ok := o["chord"]; ok && v != nil {
		ch, err := AsSignature(v)
		if err != nil {
			return nil, err
		}
		opts = append(opts, WithMessage(func(m *Message) { m.Embed.Chord = &ch }))
	}
	if s, ok := o["shadow"].(string); ok && s != "" {
		opts = append(opts, Shadow(s))
	}
	if n, ok := asInt(o["replaced_task_nesting"]); ok && n > 0 {
		opts = append(opts, WithMessage(func(m *Message) { m.ReplacedTaskNesting = n }))
	}
	if b, ok := o["ignore_result"].(bool); ok && b {
		opts = append(opts, IgnoreResult())
	}
	if s, ok := o["reply_to"].(string); ok && s != "" {
		opts = append(opts, ReplyTo(s))
	}
	hard, _ := asFloat(o["time_limit"])
	soft, _ := asFloat(o["soft_time_limit"])
	if hard > 0 || soft > 0 {
		opts = append(opts, TimeLimits(time.Duration(hard*float64(time.Second)), time.Duration(soft*float64(time.Second))))
	}
	return opts, nil
}
