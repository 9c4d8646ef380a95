package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/celeriac/celeriac/celery"
)

// archiveSynopsis is the usage line of `celeriac archive`.
const archiveSynopsis = "celeriac archive list|requeue|delete [<id>] [flags]"

// cmdArchive is `celeriac archive`: the dead letters Go workers keep
// (celery.Archiver):
//
//	archive list [--limit N] [--cursor C]   newest first
//	archive requeue <id>                   back on its queue (old result forgotten)
//	archive delete <id>
func cmdArchive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("archive")
	fs.synopsis = archiveSynopsis
	var c common
	c.register(fs)
	var cursor string
	var limit int
	var asJSON bool
	fs.Count(&limit, "limit", 50, "list: page size (at most 1000)")
	fs.String(&cursor, "cursor", "", "list: the next cursor a previous page printed")
	fs.Bool(&asJSON, "json", false, "print JSON")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	sub := fs.Arg(0)
	want := map[string]int{"list": 1, "requeue": 2, "delete": 2}
	n, ok := want[sub]
	switch {
	case sub == "":
		return usagef("a subcommand is required: list, requeue or delete")
	case !ok:
		return usagef("unknown subcommand %q (list, requeue, delete)", sub)
	case fs.NArg() != n:
		return usagef("%s takes %d argument(s), got %d", sub, n-1, fs.NArg()-1)
	case limit < 1 || limit > 1000:
		return usagef("--limit: from 1 to 1000")
	}
	client, err := newClient(&c, stderr)
	if err != nil {
		return err
	}
	defer client.Close()
	emit := func(v any, text func()) error {
		if !asJSON {
			text()
			return nil
		}
		b, err := marshalJSON(v, "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	id := fs.Arg(1)
	switch sub {
	case "list":
		page, err := client.ArchivedMessages(ctx, cursor, limit)
		if err != nil {
			return err
		}
		var next any
		if page.Next != "" {
			next = page.Next
		}
		return emit(map[string]any{"messages": page.Messages, "next_cursor": next}, func() {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTASK\tQUEUE\tREASON\tARCHIVED AT\tERROR")
			for _, m := range page.Messages {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(m.ID), printable(cmp.Or(m.Task, "-")), printable(m.Queue), m.Reason,
					celery.FormatTime(m.ArchivedAt), printable(m.Error))
			}
			tw.Flush()
			if page.Next != "" {
				fmt.Fprintf(stdout, "more: celeriac archive list --cursor %s\n", page.Next)
			}
		})
	case "requeue":
		m, err := client.RequeueArchived(ctx, id)
		if err != nil {
			return err
		}
		return emit(map[string]any{"requeued": m}, func() {
			fmt.Fprintf(stdout, "Requeued %s[%s] to %s.\n", printable(m.Task), printable(m.ID), printable(m.Queue))
		})
	default:
		m, err := client.DeleteArchived(ctx, id)
		if err != nil {
			return err
		}
		return emit(map[string]any{"deleted": m}, func() {
			fmt.Fprintf(stdout, "Deleted archive entry %s.\n", printable(m.ID))
		})
	}
}
