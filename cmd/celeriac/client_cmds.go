package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/security"
	"github.com/celeriac/celeriac/internal/duration"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// errTaskFailed makes `call --wait` and `result` exit 1 on FAILURE.
var errTaskFailed = errors.New("task failed")

func newClient(c *common, stderr io.Writer, opts ...celery.ClientOption) (*celery.Client, error) {
	log := c.logger(stderr)
	br, be, err := dialURLs(c.brokerURL(), c.backendURL(), log, c.declare.defaults(), c.brokerOptions(), c.backendOptions())
	if err != nil {
		return nil, err
	}
	return celery.NewClient(br, be, append(opts, celery.WithOwnership())...), nil
}

func cmdCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("call")
	fs.synopsis = "celeriac call <task name> [flags]"
	var c common
	c.register(fs)
	c.declare.register(fs)
	var (
		argsJSON, kwargsJSON, eta, expires, queue, taskID string
		countdown, timeout                                time.Duration
		priority                                          int
		wait                                              bool
	)
	fs.String(&argsJSON, "a args", "[]", "positional arguments, a JSON array")
	fs.String(&kwargsJSON, "k kwargs", "{}", "keyword arguments, a JSON object")
	fs.Duration(&countdown, "countdown", 0, "wait this long before running")
	fs.String(&eta, "eta", "", "earliest run time, ISO-8601")
	fs.String(&expires, "expires", "", "expiry: seconds or a duration from now (60, 5m), or an ISO-8601 time")
	fs.Int(&priority, "priority", 0, "priority 0 (first) .. 9")
	fs.String(&queue, "queue", celery.DefaultQueue, "queue name")
	fs.String(&taskID, "task-id", "", "task id (default: a new UUID)")
	var serializer, compression, secKey, secCert, secDigest, routesFile string
	var protocol int
	fs.Bool(&wait, "wait", false, "wait for the result and print it")
	fs.Duration(&timeout, "timeout", 0, "with --wait: give up after this long (0 = never)")
	fs.Choice(&serializer, "serializer", "json", []string{"json", "msgpack", "yaml"}, "task_serializer of the message body (the worker must accept it)")
	fs.Choice(&compression, "compression", "", []string{"", "zlib", "gzip", "brotli", "lzma", "xz", "zstd"}, "compress the message body (default none)")
	fs.String(&secKey, "security-key", "", "sign the message (Celery's \"auth\" serializer) with this PEM RSA key; needs --security-certificate")
	fs.String(&secCert, "security-certificate", "", "the PEM certificate of --security-key")
	fs.String(&secDigest, "security-digest", "sha256", "security_digest of the signature (sha256, sha384, sha512, sha1)")
	fs.Int(&protocol, "protocol", 2, "task message protocol: 2, or 1 for Celery 3.x workers (task_protocol)")
	fs.String(&routesFile, "routes", "", "routing file, YAML or TOML (.toml): Celery's task_routes and task_queues; --queue and --priority, when given, win over the task's route (see docs/interop.md#routing)")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	routes, err := loadRoutes("--routes", routesFile)
	if err != nil {
		return err
	}
	if err := checkQueues("--queue", []string{queue}); err != nil {
		return err
	}
	if protocol != 1 && protocol != 2 {
		return usagef("--protocol: want 1 or 2, got %d", protocol)
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one task name, got %d arguments", fs.NArg())
	}
	name := fs.Arg(0)
	var a []any
	if v, err := pyjson.Decode([]byte(argsJSON)); err != nil {
		return usagef("--args: %w", err)
	} else if a, _ = v.([]any); a == nil {
		return usagef("--args: want a JSON array")
	}
	var kw map[string]any
	if v, err := pyjson.Decode([]byte(kwargsJSON)); err != nil {
		return usagef("--kwargs: %w", err)
	} else if kw, _ = v.(map[string]any); kw == nil {
		return usagef("--kwargs: want a JSON object")
	}
	opts := []celery.SendOption{celery.Args(a...), celery.Kwargs(kw), celery.Serializer(serializer), celery.Protocol(protocol)}
	if routes == nil || fs.Changed("queue") { // else the route or the default queue
		opts = append(opts, celery.Queue(queue))
	}
	if routes == nil || fs.Changed("priority") {
		opts = append(opts, celery.Priority(priority))
	}
	if compression != "" {
		opts = append(opts, celery.Compression(compression))
	}
	if secKey != "" || secCert != "" {
		if secKey == "" || secCert == "" {
			return usagef("--security-key and --security-certificate go together")
		}
		signer, err := security.LoadSigner(secKey, secCert, secDigest)
		if err != nil {
			return err
		}
		opts = append(opts, celery.Signed(signer))
	}
	if countdown > 0 {
		opts = append(opts, celery.Countdown(countdown))
	}
	if eta != "" {
		t, err := celery.ParseTime(eta)
		if err != nil {
			return usagef("--eta: %w", err)
		}
		opts = append(opts, celery.ETA(t))
	}
	if expires != "" {
		opt, err := expiresOption(expires)
		if err != nil {
			return err
		}
		opts = append(opts, opt)
	}
	if taskID != "" {
		opts = append(opts, celery.TaskID(taskID))
	}
	client, err := newClient(&c, stderr, routerOptions(routes)...)
	if err != nil {
		return err
	}
	defer client.Close()
	res, err := client.SendTask(ctx, name, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.ID)
	if !wait {
		return nil
	}
	return printResult(ctx, res, true, timeout, stdout)
}

// expiresOption reads --expires: seconds or a duration from now, or an
// ISO-8601 time (Celery's ISO8601_OR_FLOAT, plus Go durations).
func expiresOption(s string) (celery.SendOption, error) {
	if d, err := duration.Parse(s); err == nil {
		return celery.ExpiresIn(d), nil
	}
	t, err := celery.ParseTime(s)
	if err != nil {
		return nil, usagef("--expires: want seconds, a duration or an ISO-8601 time: %w", err)
	}
	return celery.Expires(t), nil
}

func cmdResult(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("result")
	fs.synopsis = "celeriac result <task id> [flags]"
	var c common
	c.register(fs)
	var wait, traceback bool
	var timeout time.Duration
	var task string
	fs.Bool(&wait, "wait", false, "wait until the task is ready")
	fs.Duration(&timeout, "timeout", 0, "with --wait: give up after this long (0 = never)")
	fs.String(&task, "t task", "", "accepted for Celery compatibility: the task's name does not change where its result is")
	fs.Bool(&traceback, "traceback", false, "print only the traceback of a failed task (nothing for others), as celery result --traceback")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one task id, got %d arguments", fs.NArg())
	}
	if isRPC(c.backendURL()) && wait {
		// Celery's `celery result` would wait forever.
		return fmt.Errorf("result --wait: with --result-backend rpc:// a result goes only to the client that sent the task; this command can never receive it")
	}
	client, err := newClient(&c, stderr)
	if err != nil {
		return err
	}
	defer client.Close()
	if traceback {
		return printTraceback(ctx, client.AsyncResult(fs.Arg(0)), wait, timeout, stdout)
	}
	return printResult(ctx, client.AsyncResult(fs.Arg(0)), wait, timeout, stdout)
}

// printTraceback prints the traceback stored with a task's result, if any.
func printTraceback(ctx context.Context, res *celery.AsyncResult, wait bool, timeout time.Duration, stdout io.Writer) error {
	m, err := resultMeta(ctx, res, wait, timeout)
	if err != nil {
		return err
	}
	if m.Traceback != "" {
		fmt.Fprint(stdout, strings.TrimSuffix(m.Traceback, "\n")+"\n")
	}
	return nil
}

// resultMeta reads a task's result, waiting for it (at most timeout, if
// not 0) when wait is set.
func resultMeta(ctx context.Context, res *celery.AsyncResult, wait bool, timeout time.Duration) (*celery.ResultMeta, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if wait {
		return res.Wait(ctx)
	}
	return res.Info(ctx)
}

// printResult prints {"task_id", "state", "result", "traceback"} as JSON.
func printResult(ctx context.Context, res *celery.AsyncResult, wait bool, timeout time.Duration, stdout io.Writer) error {
	m, err := resultMeta(ctx, res, wait, timeout)
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
	// Indented for reading; numbers stay as written (big integers too).
	var pretty map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&pretty) == nil {
		if b, err := marshalJSON(pretty, "  "); err == nil {
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
	fs := newFlagSet("purge")
	var c common
	c.register(fs)
	var queues, exclude string
	var force bool
	fs.String(&queues, "Q queues", celery.DefaultQueue, "comma-separated queues to purge")
	fs.String(&exclude, "X exclude-queues", "", "comma-separated queues not to purge (taken out of -Q)")
	fs.Bool(&force, "f force", false, "accepted for Celery compatibility: celeriac purge never asks for confirmation")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	excluded := splitList(exclude)
	list := slices.DeleteFunc(splitList(queues), func(q string) bool { return slices.Contains(excluded, q) })
	if err := checkQueues("-Q", list); err != nil {
		return err
	}
	b, err := c.newTransport(c.logger(stderr))
	if err != nil {
		return err
	}
	defer b.Close()
	total := 0
	for _, q := range list {
		n, err := b.Purge(ctx, q)
		if err != nil {
			return err
		}
		total += n
	}
	fmt.Fprintf(stdout, "Purged %d messages from %d known task queues.\n", total, len(list))
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
