package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/celeriac/celeriac/celery/control"
)

// errNoReplies is `celery inspect`'s "No nodes replied within time
// constraint": run prints Celery's line and exits 69 (EX_UNAVAILABLE), as
// celery/bin/control.py does.
var errNoReplies = errors.New("no nodes replied within time constraint")

type ctlFlags struct {
	common
	destination string
	timeout     time.Duration
	json        bool
	terminate   bool
	signal      string
}

func (f *ctlFlags) register(fs *flagSet, control bool) {
	f.common.register(fs)
	fs.String(&f.destination, "d destination", "", "comma-separated node names (default: every node)")
	fs.Duration(&f.timeout, "t timeout", time.Second, "how long to wait for replies")
	fs.Bool(&f.json, "j json", false, "print the replies as one JSON object")
	if control {
		fs.Bool(&f.terminate, "terminate", false, "revoke: also stop the running task")
		fs.String(&f.signal, "s signal", "SIGTERM", "revoke --terminate: signal name")
	}
}

// controlMethods returns the commands `celeriac control` sends.
func controlMethods() []string {
	return []string{"revoke", "terminate", "revoke_by_stamped_headers", "rate_limit", "time_limit", "pool_grow", "pool_shrink", "autoscale", "add_consumer", "cancel_consumer", "enable_events", "disable_events", "heartbeat", "shutdown"}
}

var inspectArgs = map[string]string{
	"query_task": "ids", "registered": "taskinfoitems",
}

func cmdInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect")
	fs.synopsis = "celeriac inspect <method> [args] [flags]"
	var f ctlFlags
	f.register(fs, false)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "usage: celeriac inspect <%s> [args] [--destination n1,n2] [--timeout s] [--json]\n", strings.Join(control.InspectMethods, "|"))
		return errUsage
	}
	method, rest := fs.Arg(0), fs.Args()[1:]
	if !slices.Contains(control.InspectMethods, method) {
		return usagef("unknown inspect method %q; want one of %s", method, strings.Join(control.InspectMethods, ", "))
	}
	var margs map[string]any
	switch {
	case inspectArgs[method] != "":
		margs = map[string]any{inspectArgs[method]: rest}
	case method == "active":
		margs = map[string]any{"safe": true}
	case method == "conf":
		margs = map[string]any{"with_defaults": len(rest) > 0 && rest[0] == "true"}
	case method == "hello":
		margs = map[string]any{"from_node": "celeriac-cli@localhost", "revoked": map[string]any{}}
	}
	return runControl(ctx, &f, method, margs, stdout, stderr)
}

func cmdControl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("control")
	fs.synopsis = "celeriac control <method> [args] [flags]"
	var f ctlFlags
	f.register(fs, true)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "usage: celeriac control <%s> [args] [--destination n1,n2] [--timeout s] [--json]\n", strings.Join(controlMethods(), "|"))
		return errUsage
	}
	method, rest := fs.Arg(0), fs.Args()[1:]
	if !slices.Contains(controlMethods(), method) {
		return usagef("unknown control method %q; want one of %s", method, strings.Join(controlMethods(), ", "))
	}
	need := func(n int, what string) error {
		if len(rest) < n {
			return usagef("%s: want %s", method, what)
		}
		return nil
	}
	num := func(s string) any {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
		if x, err := strconv.ParseFloat(s, 64); err == nil {
			return x
		}
		return nil
	}
	var margs map[string]any
	switch method {
	case "revoke", "terminate":
		if err := need(1, "task ids"); err != nil {
			return err
		}
		margs = map[string]any{"task_id": rest, "terminate": f.terminate || method == "terminate", "signal": f.signal}
		method = "revoke"
	case "revoke_by_stamped_headers":
		// name=value ..., sent as a list as celery control sends it.
		if err := need(1, "<name=value> ..."); err != nil {
			return err
		}
		for _, h := range rest {
			if !strings.Contains(h, "=") {
				return usagef("revoke_by_stamped_headers: want name=value, not %q", h)
			}
		}
		margs = map[string]any{"headers": rest, "terminate": f.terminate, "signal": f.signal}
	case "rate_limit":
		if err := need(2, "<task name> <rate limit>"); err != nil {
			return err
		}
		margs = map[string]any{"task_name": rest[0], "rate_limit": rest[1]}
	case "time_limit":
		if err := need(2, "<task name> <soft secs> [hard secs]"); err != nil {
			return err
		}
		margs = map[string]any{"task_name": rest[0], "soft": num(rest[1]), "hard": nil}
		if len(rest) > 2 {
			margs["hard"] = num(rest[2])
		}
	case "pool_grow", "pool_shrink":
		n := 1
		if len(rest) > 0 {
			n, _ = strconv.Atoi(rest[0])
		}
		margs = map[string]any{"n": n}
	case "autoscale":
		if err := need(2, "<max> <min>"); err != nil {
			return err
		}
		margs = map[string]any{"max": num(rest[0]), "min": num(rest[1])}
	case "add_consumer", "cancel_consumer":
		if err := need(1, "<queue>"); err != nil {
			return err
		}
		margs = map[string]any{"queue": rest[0]}
	case "shutdown":
		// No node replies to shutdown: send it and return.
		c, closeFn, err := newControl(&f, stderr)
		if err != nil {
			return err
		}
		defer closeFn()
		return c.Shutdown(ctx, f.destinations()...)
	}
	return runControl(ctx, &f, method, margs, stdout, stderr)
}

func newControl(f *ctlFlags, stderr io.Writer) (*control.Control, func(), error) {
	log := f.logger(stderr)
	broker, err := f.newTransport(log)
	if err != nil {
		return nil, nil, err
	}
	return control.New(broker, control.WithLogger(log)), func() { broker.Close() }, nil
}

// destinations returns the --destination node names, with Celery's %h, %n
// and %d expanded, so a container can name its own worker
// (`inspect ping -d celery@%h` as a healthcheck).
func (f *ctlFlags) destinations() []string {
	out := splitList(f.destination)
	for i, d := range out {
		if strings.Contains(d, "%") {
			out[i] = expandNodename(d)
		}
	}
	return out
}

func runControl(ctx context.Context, f *ctlFlags, method string, args map[string]any, stdout, stderr io.Writer) error {
	if f.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	c, closeFn, err := newControl(f, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	// Replies are printed as they came (Inspect's wire form, not the
	// typed replies): any command, and fields a newer Celery adds, print
	// in full. Replies that came before an error are printed, then the
	// error.
	replies, err := c.Inspect(ctx, method, args, f.timeout, f.destinations()...)
	if len(replies) == 0 {
		if err != nil {
			return err
		}
		return errNoReplies
	}
	if f.json {
		b, jerr := marshalJSON(replies, "")
		if jerr != nil {
			return jerr
		}
		fmt.Fprintln(stdout, string(b))
	} else {
		printReplies(stdout, replies)
	}
	return err
}

// printReplies prints replies as `celery inspect` does: "->  node: OK"
// and the indented reply.
func printReplies(w io.Writer, replies map[string]any) {
	for _, node := range slices.Sorted(maps.Keys(replies)) {
		v := replies[node]
		status := "OK"
		if m, ok := v.(map[string]any); ok {
			if e, isErr := m["error"]; isErr && len(m) == 1 {
				status, v = "ERROR", e
			} else if o, isOK := m["ok"]; isOK && len(m) == 1 {
				v = o
			}
		}
		fmt.Fprintf(w, "->  %s: %s\n", printable(node), status)
		fmt.Fprintln(w, indent(printableText(pretty(v)), "        "))
	}
	n := len(replies)
	word := "nodes"
	if n == 1 {
		word = "node"
	}
	fmt.Fprintf(w, "\n%d %s online.\n", n, word)
}

func pretty(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "None"
	case []any:
		if len(x) == 0 {
			return "- empty -"
		}
		lines := make([]string, len(x))
		for i, e := range x {
			if s, ok := e.(string); ok {
				lines[i] = "* " + printable(s)
			} else {
				b, _ := marshalJSON(e, "")
				lines[i] = "* " + string(b)
			}
		}
		return strings.Join(lines, "\n")
	}
	b, err := marshalJSON(v, "    ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
