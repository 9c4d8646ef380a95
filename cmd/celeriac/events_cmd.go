package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/celery/events"
)

// cmdEvents prints the event stream (like `celery events --dump`) until
// interrupted.
func cmdEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print each event as one JSON line")
	pattern := fs.String("pattern", "*", `routing-key pattern: "*", "task.*", "worker.*"`)
	wakeup := fs.Bool("wakeup", true, "ask workers for a heartbeat at once (heartbeat broadcast)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	broker, err := celery.NewBroker(c.brokerURL(), celery.WithLogger(log))
	if err != nil {
		return err
	}
	defer broker.Close()
	opts := []events.ReceiverOption{events.WithPattern(*pattern), events.WithReceiverLogger(log)}
	if *wakeup {
		ctl := control.New(broker, control.WithLogger(log))
		opts = append(opts, events.WithOnReady(func(ctx context.Context) {
			if err := ctl.Heartbeat(ctx); err != nil {
				log.Warn("wakeup broadcast failed", "error", err)
			}
		}))
	}
	fmt.Fprintln(stderr, "-> celeriac events: listening on", broker.KeyPrefix()+"/"+fmt.Sprint(broker.DB())+".celeryev/"+*pattern)
	return events.NewReceiver(broker, opts...).Run(ctx, func(e events.Event) {
		if *asJSON {
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
// "<hostname> [<time>] <type>: key=value, ...".
func formatEvent(e events.Event) string {
	skip := map[string]bool{"type": true, "hostname": true, "timestamp": true, "local_received": true, "utcoffset": true, "pid": true, "clock": true}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e)) {
		if !skip[k] {
			parts = append(parts, fmt.Sprintf("%s=%v", k, e[k]))
		}
	}
	return fmt.Sprintf("%s [%s] %s: %s", e.Hostname(), e.Time().UTC().Format(time.DateTime+".000000"), e.Type(), strings.Join(parts, ", "))
}
