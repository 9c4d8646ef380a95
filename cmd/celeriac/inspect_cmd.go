package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
)

// errNoReplies is `celery inspect`'s "No nodes replied within time
// constraint" (exit status 1).
var errNoReplies = errors.New("no nodes replied within time constraint")

type ctlFlags struct {
	common
	destination string
	timeout     float64
	json        bool
	terminate   bool
	signal      string
}

func (f *ctlFlags) register(fs *flag.FlagSet, control bool) {
	f.common.register(fs)
	fs.StringVar(&f.destination, "destination", "", "comma-separated node names (default: every node)")
	fs.StringVar(&f.destination, "d", "", "short for --destination")
	fs.Float64Var(&f.timeout, "timeout", 1, "seconds to wait for replies")
	fs.Float64Var(&f.timeout, "t", 1, "short for --timeout")
	fs.BoolVar(&f.json, "json", false, "print the replies as one JSON object")
	fs.BoolVar(&f.json, "j", false, "short for --json")
	if control {
		fs.BoolVar(&f.terminate, "terminate", false, "revoke: also stop the running task")
		fs.StringVar(&f.signal, "signal", "SIGTERM", "revoke --terminate: signal name")
		fs.StringVar(&f.signal, "s", "SIGTERM", "short for --signal")
	}
}

var inspectArgs = map[string]string{
	"query_task": "ids", "registered": "taskinfoitems",
}

func cmdInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	var f ctlFlags
	f.register(fs, false)
	if err := parse(fs, reorder(fs, args), stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "usage: celeriac inspect <%s> [args] [--destination n1,n2] [--timeout s] [--json]\n", strings.Join(control.InspectMethods, "|"))
		return errUsage
	}
	method, rest := fs.Arg(0), fs.Args()[1:]
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
	fs := flag.NewFlagSet("control", flag.ContinueOnError)
	var f ctlFlags
	f.register(fs, true)
	if err := parse(fs, reorder(fs, args), stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: celeriac control <revoke|terminate|rate_limit|time_limit|pool_grow|pool_shrink|autoscale|add_consumer|cancel_consumer|enable_events|disable_events|heartbeat|shutdown> [args] [--destination n1,n2] [--timeout s] [--json]")
		return errUsage
	}
	method, rest := fs.Arg(0), fs.Args()[1:]
	need := func(n int, what string) error {
		if len(rest) < n {
			fmt.Fprintf(stderr, "celeriac control %s: want %s\n", method, what)
			return errUsage
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
	log, err := f.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	broker, err := celery.NewBroker(f.brokerURL(), celery.WithLogger(log))
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
	c, closeFn, err := newControl(f, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	timeout := time.Duration(f.timeout * float64(time.Second))
	replies, err := c.Inspect(ctx, method, args, timeout, f.destinations()...)
	if err != nil {
		return err
	}
	if f.json {
		b, err := marshalJSON(replies, "")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		if len(replies) == 0 {
			return errNoReplies
		}
		return nil
	}
	if len(replies) == 0 {
		fmt.Fprintln(stderr, "Error: No nodes replied within time constraint")
		return errTaskFailed
	}
	printReplies(stdout, replies)
	return nil
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
		fmt.Fprintf(w, "->  %s: %s\n", node, status)
		fmt.Fprintln(w, indent(pretty(v), "        "))
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
				lines[i] = "* " + s
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
