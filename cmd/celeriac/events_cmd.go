package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/celery/events"
	credis "github.com/celeriac/celeriac/celery/redis"
)

// cmdEvents prints the event stream (like `celery events --dump`) until
// interrupted.
func cmdEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events")
	var c common
	c.register(fs)
	var asJSON, wakeup, dump bool
	var pattern string
	fs.Bool(&asJSON, "j json", false, "print each event as one JSON line")
	fs.Bool(&dump, "d dump", false, "accepted for Celery compatibility: celeriac events always dumps")
	fs.String(&pattern, "pattern", "*", `routing-key pattern: "*", "task.*", "worker.*"`)
	fs.Bool(&wakeup, "wakeup", true, "ask workers for a heartbeat at once (heartbeat broadcast)")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	log := c.logger(stderr)
	broker, err := c.newTransport(log)
	if err != nil {
		return err
	}
	defer broker.Close()
	opts := []events.Option{events.WithPattern(pattern), events.WithLogger(log)}
	if wakeup {
		ctl := control.New(broker, control.WithLogger(log))
		opts = append(opts, events.WithOnReady(func(ctx context.Context) {
			if err := ctl.Heartbeat(ctx); err != nil {
				log.Warn("wakeup broadcast failed", "error", err)
			}
		}))
	}
	if rb, ok := broker.(*credis.Broker); ok {
		fmt.Fprintln(stderr, "-> celeriac events: listening on", rb.KeyPrefix()+"/"+fmt.Sprint(rb.DB())+".celeryev/"+pattern)
	} else {
		fmt.Fprintln(stderr, "-> celeriac events: listening on exchange celeryev, routing key", pattern)
	}
	return events.NewReceiver(broker, opts...).Run(ctx, func(ev events.Typed) {
		// The fields exactly as received: the typed event may not model
		// them all.
		e := ev.EventHeader().Raw
		if asJSON {
			b, err := marshalJSON(map[string]any(e), "")
			if err == nil {
				fmt.Fprintln(stdout, string(b))
			}
			return
		}
		fmt.Fprintln(stdout, formatEvent(e))
	})
}

// formatEvent is one line in the style of `celery events --dump`:
// "<hostname> [<time>] <type>: key=value, ...". Every part taken from the
// event is passed through printable: events are written by whoever can
// publish on the broker.
func formatEvent(e events.Event) string {
	skip := map[string]bool{"type": true, "hostname": true, "timestamp": true, "local_received": true, "utcoffset": true, "pid": true, "clock": true}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e)) {
		if !skip[k] {
			parts = append(parts, printable(k)+"="+printable(fmt.Sprint(e[k])))
		}
	}
	return fmt.Sprintf("%s [%s] %s: %s", printable(e.Hostname()), e.Time().UTC().Format(time.DateTime+".000000"), printable(e.Type()), strings.Join(parts, ", "))
}
