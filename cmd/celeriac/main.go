// Command celeriac is the celeriac binary: a Celery-compatible worker, a
// task client and the development stack, in one program.
//
//	celeriac serve                       # HTTP API + Go worker + embedded broker (make run)
//	celeriac worker -Q celery -c 8       # a worker
//	celeriac beat --schedule beat.yaml   # periodic tasks
//	celeriac call tasks.add --args '[2, 3]' --wait
//	celeriac result <task-id> --wait
//	celeriac purge -Q celery
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors already reported by a flag set.
var errUsage = errors.New("usage")

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "start the HTTP API, a Go worker and (without --broker) an embedded broker", cmdServe},
		{"run", "the same as serve (what `make run` starts)", cmdServe},
		{"worker", "start a worker", cmdWorker},
		{"beat", "send periodic tasks from a schedule file (any number may run; one sends)", cmdBeat},
		{"call", "send a task and print its id (and result with --wait)", cmdCall},
		{"result", "print a task's state and result", cmdResult},
		{"purge", "delete all waiting messages from queues", cmdPurge},
		{"inspect", "ask workers (Go or Python) about their state: ping, stats, active, ...", cmdInspect},
		{"control", "send remote-control commands: revoke, rate_limit, pool_grow, ...", cmdControl},
		{"events", "print the event stream", cmdEvents},
		{"probe", "exit 0 if an HTTP URL answers 2xx (a container healthcheck)", cmdProbe},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: celeriac <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'celeriac <command> -h' for a command's flags.")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.Is(err, errTaskFailed):
			return 1
		default:
			fmt.Fprintln(stderr, "celeriac "+c.name+": "+err.Error())
			return 1
		}
	}
	fmt.Fprintf(stderr, "celeriac: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

// common holds the flags every command shares.
type common struct {
	broker, backend, loglevel, logFormat string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.broker, "broker", "", "broker URL (default $CELERY_BROKER_URL, else redis://localhost:6379/0)")
	fs.StringVar(&c.backend, "result-backend", "", "result backend URL (default $CELERY_RESULT_BACKEND, else the broker)")
	fs.StringVar(&c.loglevel, "loglevel", "info", "log level: debug, info, warning, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
}

func (c *common) brokerURL() string {
	if c.broker != "" {
		return c.broker
	}
	if v := os.Getenv("CELERY_BROKER_URL"); v != "" {
		return v
	}
	return "redis://localhost:6379/0"
}

func (c *common) backendURL() string {
	if c.backend != "" {
		return c.backend
	}
	if v := os.Getenv("CELERY_RESULT_BACKEND"); v != "" {
		return v
	}
	return c.brokerURL()
}

func (c *common) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(c.loglevel) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warning", "warn":
		level = slog.LevelWarn
	case "error", "critical", "fatal":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("--loglevel %q: want debug, info, warning or error", c.loglevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", c.logFormat)
}

// setup parses the flags of a command that takes no positional arguments
// and builds its logger.
func setup(fs *flag.FlagSet, c *common, args []string, stderr io.Writer) (*slog.Logger, error) {
	if err := parse(fs, args, stderr); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c.logger(stderr)
}

// reorder moves positional arguments after flags, so `call NAME --wait`
// works like `call --wait NAME` (the flag package stops at the first
// positional argument). fs tells which flags take no value; a negative
// number is an argument, not a flag.
func reorder(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || len(a) == 1 || isNumber(a) {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name, _, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !inline && i+1 < len(args) && !isBoolFlag(fs, name) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(flags, pos...)
}

// isBoolFlag reports whether fs's flag name takes no value (unknown flags
// and -h count as such; parse reports the former).
func isBoolFlag(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	if f == nil {
		return true
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func isNumber(s string) bool { _, err := strconv.ParseFloat(s, 64); return err == nil }

// parse parses flags. A bad flag is reported in one line; -h prints the
// flags.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stderr, "usage of celeriac %s:\n", fs.Name())
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return err
	default:
		fmt.Fprintf(stderr, "celeriac %s: %v (see celeriac %s -h)\n", fs.Name(), err, fs.Name())
		return errUsage
	}
}
