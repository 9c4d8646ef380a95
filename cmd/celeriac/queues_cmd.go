package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
)

// queuesSynopsis is the usage line of `celeriac queues`.
const queuesSynopsis = "celeriac queues list|messages|remove|move|purge|pause|resume <queue> [args] [flags]"

// cmdQueues is `celeriac queues`: look into and change what waits in
// queues (celery.QueueInspector):
//
//	queues list [-Q a,b]                      lengths per priority bucket
//	queues messages <queue> [--limit N] [--cursor C]
//	queues remove <queue> <task id>           (stores REVOKED)
//	queues move <from> <to> [--task NAME] [--task-id ID] [--limit N]
//	queues purge <queue> --task NAME          (stores REVOKED for each)
//	queues pause <queue>                      workers consuming it stop (cancel_consumer)
//	queues resume <queue>                     they consume it again (add_consumer)
func cmdQueues(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("queues")
	fs.synopsis = queuesSynopsis
	var c common
	c.register(fs)
	var queues, cursor, task, taskID string
	var limit int
	var asJSON bool
	var timeout time.Duration
	fs.String(&queues, "Q queues", celery.DefaultQueue, "list: comma-separated queues to report")
	fs.Count(&limit, "limit", 0, "messages: page size (default 50, at most 1000); move: at most this many (0: all)")
	fs.String(&cursor, "cursor", "", "messages: the next cursor a previous page printed")
	fs.String(&task, "task", "", "move, purge: only messages of this task name")
	fs.String(&taskID, "task-id", "", "move: only the message of this task id")
	fs.Bool(&asJSON, "json", false, "print JSON")
	fs.Duration(&timeout, "t timeout", pauseTimeout, "pause, resume: how long to wait for the workers' replies")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	sub, rest := fs.Arg(0), fs.Args()
	if len(rest) > 0 {
		rest = rest[1:]
	}
	want := map[string]int{"list": 0, "messages": 1, "remove": 2, "move": 2, "purge": 1, "pause": 1, "resume": 1}
	n, ok := want[sub]
	switch {
	case sub == "":
		return usagef("a subcommand is required: list, messages, remove, move, purge, pause or resume")
	case !ok:
		return usagef("unknown subcommand %q (list, messages, remove, move, purge, pause, resume)", sub)
	case len(rest) != n:
		return usagef("%s takes %d argument(s), got %d", sub, n, len(rest))
	case sub == "purge" && task == "":
		return usagef("purge needs --task NAME (to empty a whole queue use celeriac purge)")
	case limit > 1000 && sub == "messages":
		return usagef("--limit: at most 1000")
	}
	if sub == "list" {
		rest = splitList(queues)
	}
	named := rest // the arguments that name queues
	if sub == "remove" {
		named = rest[:1]
	}
	if err := checkQueues("queue", named); err != nil {
		return err
	}
	client, err := newClient(&c, stderr)
	if err != nil {
		return err
	}
	defer client.Close()
	out := func(v any, text func(w io.Writer)) error {
		if asJSON {
			b, err := marshalJSON(v, "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, string(b))
			return nil
		}
		text(stdout)
		return nil
	}
	switch sub {
	case "list":
		return queuesList(ctx, client, rest, out)
	case "pause", "resume":
		return queuesPause(ctx, &c, stderr, sub == "pause", rest[0], timeout, out)
	case "messages":
		page, err := client.PendingMessages(ctx, rest[0], cursor, cmp.Or(limit, 50))
		if err != nil {
			return err
		}
		var next any // null at the end, as the API
		if page.Next != "" {
			next = page.Next
		}
		return out(map[string]any{"queue": rest[0], "messages": page.Messages, "next_cursor": next}, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TASK ID\tTASK\tARGS\tKWARGS\tETA\tPRIORITY\tSIZE")
			for _, m := range page.Messages {
				eta := "-"
				if m.ETA != nil {
					eta = celery.FormatTime(*m.ETA)
				}
				name := m.Task
				if m.Error != "" {
					name += " (" + m.Error + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", printable(m.TaskID), printable(name), printable(m.Args), printable(m.Kwargs), eta, m.Priority, m.Size)
			}
			tw.Flush()
			if page.Next != "" {
				fmt.Fprintf(w, "more: celeriac queues messages %s --cursor %s\n", rest[0], page.Next)
			}
		})
	case "remove":
		m, err := client.RemovePending(ctx, rest[0], rest[1])
		if m == nil {
			return err
		}
		if err != nil {
			fmt.Fprintln(stderr, "celeriac queues: removed, but "+oneLine(err.Error()))
		}
		return out(map[string]any{"queue": rest[0], "removed": m}, func(w io.Writer) {
			fmt.Fprintf(w, "Removed %s[%s] from %s; its state is REVOKED.\n", printable(m.Task), printable(m.TaskID), rest[0])
		})
	case "move":
		n, err := client.MovePending(ctx, rest[0], rest[1], celery.MessageFilter{Task: task, TaskID: taskID, Limit: limit})
		if err != nil {
			return err
		}
		return out(map[string]any{"from": rest[0], "to": rest[1], "moved": n}, func(w io.Writer) {
			fmt.Fprintf(w, "Moved %d messages from %s to %s.\n", n, rest[0], rest[1])
		})
	default: // purge
		n, err := client.PurgeTask(ctx, rest[0], task)
		if err != nil && n == 0 {
			return err
		}
		if err != nil {
			fmt.Fprintln(stderr, "celeriac queues: purged, but "+oneLine(err.Error()))
		}
		return out(map[string]any{"queue": rest[0], "task": task, "purged": n}, func(w io.Writer) {
			fmt.Fprintf(w, "Purged %d messages of %s from %s.\n", n, printable(task), rest[0])
		})
	}
}

// queueLengther is what `queues list` asks of the broker.
type queueLengther interface {
	PrioritySteps() []int
	QueueLengths(ctx context.Context, queue string) ([]int, error)
}

func queuesList(ctx context.Context, client *celery.Client, queues []string, out func(any, func(io.Writer)) error) error {
	ql, ok := client.Publisher().(queueLengther)
	if !ok {
		return fmt.Errorf("queue lengths: %w", celery.ErrUnsupported)
	}
	type row struct {
		Name       string         `json:"name"`
		Messages   int            `json:"messages"`
		Priorities map[string]int `json:"priorities"`
		Paused     bool           `json:"paused"`
	}
	paused := map[string]bool{}
	if ps, ok := client.Publisher().(celery.PauseStore); ok {
		list, err := ps.PausedQueues(ctx)
		if err != nil {
			return err
		}
		for _, p := range list {
			paused[p.Queue] = true
		}
	}
	steps := ql.PrioritySteps()
	rows := make([]row, 0, len(queues))
	for _, q := range queues {
		lens, err := ql.QueueLengths(ctx, q)
		if err != nil {
			return err
		}
		r := row{Name: q, Priorities: map[string]int{}, Paused: paused[q]}
		for i, l := range lens {
			r.Messages += l
			r.Priorities[strconv.Itoa(steps[i])] = l
		}
		rows = append(rows, r)
	}
	return out(map[string]any{"queues": rows}, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "QUEUE\tMESSAGES\tBY PRIORITY\tPAUSED")
		for _, r := range rows {
			var parts []string
			for _, s := range steps {
				parts = append(parts, fmt.Sprintf("%d:%d", s, r.Priorities[strconv.Itoa(s)]))
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%v\n", r.Name, r.Messages, strings.Join(parts, " "), r.Paused)
		}
		tw.Flush()
	})
}

// queuesPause is `queues pause|resume <queue>`
// (control.Control.PauseQueue, ResumeQueue).
func queuesPause(ctx context.Context, c *common, stderr io.Writer, pause bool, queue string, timeout time.Duration, out func(any, func(io.Writer)) error) error {
	log := c.logger(stderr)
	broker, err := c.newBroker(log)
	if err != nil {
		return err
	}
	defer broker.Close()
	store, ok := any(broker).(celery.PauseStore)
	if !ok {
		return fmt.Errorf("pause: %w", celery.ErrUnsupported)
	}
	ctl := control.New(broker, control.WithLogger(log))
	var p *celery.PausedQueue
	if pause {
		p, err = ctl.PauseQueue(ctx, store, queue, timeout)
	} else {
		p, err = ctl.ResumeQueue(ctx, store, queue, timeout)
	}
	if p == nil {
		return err
	}
	if err != nil {
		fmt.Fprintln(stderr, "celeriac queues: "+oneLine(err.Error()))
	}
	verb := "Paused"
	if !pause {
		verb = "Resumed"
	}
	return out(map[string]any{"queue": queue, "paused": pause, "workers": p.Workers}, func(w io.Writer) {
		names := make([]string, len(p.Workers))
		for i, n := range p.Workers {
			names[i] = printable(n)
		}
		fmt.Fprintf(w, "%s %s on %d workers: %s\n", verb, queue, len(names), strings.Join(names, ", "))
	})
}
