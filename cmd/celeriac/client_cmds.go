package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// errTaskFailed makes `call --wait` and `result` exit 1 on FAILURE.
var errTaskFailed = errors.New("task failed")

func newClient(c *common, stderr io.Writer) (*celery.Client, error) {
	log, err := c.logger(stderr)
	if err != nil {
		return nil, err
	}
	return celery.NewClient(c.brokerURL(), celery.WithResultBackend(c.backendURL()), celery.WithClientLogger(log))
}

func cmdCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	var c common
	c.register(fs)
	argsJSON := fs.String("args", "[]", "positional arguments, a JSON array")
	kwargsJSON := fs.String("kwargs", "{}", "keyword arguments, a JSON object")
	countdown := fs.Float64("countdown", 0, "seconds to wait before running")
	eta := fs.String("eta", "", "earliest run time, ISO-8601")
	expires := fs.String("expires", "", "expiry: seconds from now, or an ISO-8601 time")
	priority := fs.Int("priority", 0, "priority 0 (first) .. 9")
	queue := fs.String("queue", celery.DefaultQueue, "queue name")
	taskID := fs.String("task-id", "", "task id (default: a new UUID)")
	wait := fs.Bool("wait", false, "wait for the result and print it")
	timeout := fs.Duration("timeout", 0, "with --wait: give up after this long (0 = never)")
	if err := parse(fs, reorder(fs, args), stderr); err != nil {
		return err
	}
	if err := checkQueues(stderr, "call", "--queue", *queue); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want exactly one task name, got %d arguments", fs.NArg())
	}
	name := fs.Arg(0)
	var a []any
	if v, err := pyjson.Decode([]byte(*argsJSON)); err != nil {
		return fmt.Errorf("--args: %w", err)
	} else if a, _ = v.([]any); a == nil {
		return fmt.Errorf("--args: want a JSON array")
	}
	var kw map[string]any
	if v, err := pyjson.Decode([]byte(*kwargsJSON)); err != nil {
		return fmt.Errorf("--kwargs: %w", err)
	} else if kw, _ = v.(map[string]any); kw == nil {
		return fmt.Errorf("--kwargs: want a JSON object")
	}
	opts := []celery.SendOption{celery.Args(a...), celery.Kwargs(kw), celery.Queue(*queue), celery.Priority(*priority)}
	if *countdown > 0 {
		opts = append(opts, celery.Countdown(time.Duration(*countdown*float64(time.Second))))
	}
	if *eta != "" {
		t, err := celery.ParseTime(*eta)
		if err != nil {
			return fmt.Errorf("--eta: %w", err)
		}
		opts = append(opts, celery.ETA(t))
	}
	if *expires != "" {
		opt, err := expiresOption(*expires)
		if err != nil {
			return err
		}
		opts = append(opts, opt)
	}
	if *taskID != "" {
		opts = append(opts, celery.TaskID(*taskID))
	}
	client, err := newClient(&c, stderr)
	if err != nil {
		return err
	}
	defer client.Close()
	res, err := client.SendTask(ctx, name, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.ID)
	if !*wait {
		return nil
	}
	return printResult(ctx, res, true, *timeout, stdout)
}

func expiresOption(s string) (celery.SendOption, error) {
	var secs float64
	if _, err := fmt.Sscanf(s, "%g", &secs); err == nil && !strings.ContainsAny(s, "-:T") {
		return celery.ExpiresIn(time.Duration(secs * float64(time.Second))), nil
	}
	t, err := celery.ParseTime(s)
	if err != nil {
		return nil, fmt.Errorf("--expires: want seconds or an ISO-8601 time: %w", err)
	}
	return celery.Expires(t), nil
}

func cmdResult(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("result", flag.ContinueOnError)
	var c common
	c.register(fs)
	wait := fs.Bool("wait", false, "wait until the task is ready")
	timeout := fs.Duration("timeout", 0, "with --wait: give up after this long (0 = never)")
	if err := parse(fs, reorder(fs, args), stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want exactly one task id, got %d arguments", fs.NArg())
	}
	client, err := newClient(&c, stderr)
	if err != nil {
		return err
	}
	defer client.Close()
	return printResult(ctx, client.AsyncResult(fs.Arg(0)), *wait, *timeout, stdout)
}

// printResult prints {"task_id", "state", "result", "traceback"} as JSON.
func printResult(ctx context.Context, res *celery.AsyncResult, wait bool, timeout time.Duration, stdout io.Writer) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var m *celery.ResultMeta
	var err error
	if wait {
		m, err = res.Wait(ctx)
	} else {
		m, err = res.Info(ctx)
	}
	if err != nil {
		return err
	}
	out := map[string]any{"task_id": m.TaskID, "state": string(m.Status), "result": m.Result}
	if m.Traceback != "" {
		out["traceback"] = m.Traceback
	}
	raw, err := pyjson.Encode(out)
	if err != nil {
		return err
	}
	var pretty map[string]any
	if json.Unmarshal(raw, &pretty) == nil {
		if b, err := json.MarshalIndent(pretty, "", "  "); err == nil {
			raw = b
		}
	}
	fmt.Fprintln(stdout, string(raw))
	if m.Status == celery.StateFailure {
		return errTaskFailed
	}
	return nil
}

func cmdPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	var c common
	c.register(fs)
	queues := fs.String("Q", celery.DefaultQueue, "comma-separated queues to purge")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := checkQueues(stderr, "purge", "-Q", *queues); err != nil {
		return err
	}
	b, err := celery.NewBroker(c.brokerURL())
	if err != nil {
		return err
	}
	defer b.Close()
	total := 0
	for _, q := range splitList(*queues) {
		n, err := b.Purge(ctx, q)
		if err != nil {
			return err
		}
		total += n
	}
	fmt.Fprintf(stdout, "Purged %d messages from %d known task queues.\n", total, len(splitList(*queues)))
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
