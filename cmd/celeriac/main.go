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
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/celeriac/celeriac/celery"
	camqp "github.com/celeriac/celeriac/celery/amqp"
	credis "github.com/celeriac/celeriac/celery/redis"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors already reported (a usage line printed).
var errUsage = errors.New("usage")

// Exit statuses, as Celery's (celery/platforms.py).
const (
	exitFailure     = 1
	exitUsage       = 2  // click's UsageError
	exitUnavailable = 69 // EX_UNAVAILABLE: no node replied to inspect/control
)

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
		{"queues", "list, peek at, remove, move and purge-by-name waiting messages", cmdQueues},
		{"archive", "list, requeue and delete archived (dead-letter) messages", cmdArchive},
		{"inspect", "ask workers (Go or Python) about their state: ping, stats, active, ...", cmdInspect},
		{"control", "send remote-control commands: revoke, rate_limit, pool_grow, ...", cmdControl},
		{"events", "print the event stream", cmdEvents},
		{"probe", "exit 0 if an HTTP URL answers 2xx (a container healthcheck)", cmdProbe},
		{"version", "print the version, the commit it was built from and the Go version", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: celeriac [-A app] [-b broker] [--result-backend url] <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'celeriac <command> --help' for a command's flags; 'celeriac --version' for the version.")
}

// isGlobalFlag reports whether name is one of the options Celery takes
// before the command (`celery -A proj -b redis://h worker`); run passes
// them on to the command.
func isGlobalFlag(name string) bool {
	switch name {
	case "-A", "--app", "-b", "--broker", "--result-backend":
		return true
	}
	return false
}

func run(args []string, stdout, stderr io.Writer) int {
	var global []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		a := args[0]
		switch name, _, hasVal := strings.Cut(a, "="); {
		case a == "-h" || a == "--help":
			usage(stdout)
			return 0
		case a == "--version":
			fmt.Fprintln(stdout, versionLine())
			return 0
		case isGlobalFlag(name) && hasVal, len(a) > 2 && isGlobalFlag(a[:2]) && a[1] != '-':
			global, args = append(global, a), args[1:]
		case isGlobalFlag(name) && len(args) > 1:
			global, args = append(global, a, args[1]), args[2:]
		default:
			fmt.Fprintf(stderr, "celeriac: unknown option %q before the command (only -A, -b and --result-backend go there)\n", a)
			return exitUsage
		}
	}
	if len(args) == 0 || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, append(global, args[1:]...), stdout, stderr)
		var ue *usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return exitUsage
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "celeriac %s: %s (see celeriac %s --help)\n", c.name, oneLine(err.Error()), c.name)
			return exitUsage
		case errors.Is(err, errTaskFailed):
			return exitFailure
		case errors.Is(err, errNoReplies):
			// celery inspect's words, on stderr, and its exit status.
			fmt.Fprintln(stderr, "Error: No nodes replied within time constraint")
			return exitUnavailable
		default:
			fmt.Fprintln(stderr, "celeriac "+c.name+": "+oneLine(err.Error()))
			return exitFailure
		}
	}
	fmt.Fprintf(stderr, "celeriac: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

// oneLine keeps an error message on one line.
func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// logLevels returns Celery's --loglevel names (celery/bin/base.py
// LogLevel), plus warn; case does not matter.
func logLevels() []string {
	return []string{"debug", "info", "warning", "warn", "error", "critical", "fatal"}
}

// common holds the flags every command shares.
type common struct {
	app, broker, backend, loglevel, logFormat string
	keyPrefix, resultKeyPrefix                string
	declare                                   queueArgs // registered by the commands that declare queues
}

// queueArgs are the flags of the queues a command declares (worker,
// serve, call, beat), named as Celery's settings. Over AMQP they are the
// queues' x- arguments; kombu's Redis transport has no such arguments
// and ignores them, and so does celeriac's.
type queueArgs struct {
	maxPriority              int
	defaultType, missingType string
}

func (q *queueArgs) register(fs *flagSet) {
	fs.Count(&q.maxPriority, "queue-max-priority", 0, "task_queue_max_priority: x-max-priority (1-255) of the queues declared over AMQP, task_queues entries without one too (not quorum queues); then 9 runs before 0. A queue that exists without it is an error, as in Celery. Redis: no effect (its priority steps are fixed)")
	fs.Choice(&q.defaultType, "default-queue-type", "classic", []string{"classic", "quorum"}, "task_default_queue_type: x-queue-type of the default queue, celery, declared over AMQP (Redis: no effect)")
	fs.Choice(&q.missingType, "create-missing-queue-type", "classic", []string{"classic", "quorum"}, "task_create_missing_queue_type: x-queue-type of the other queues declared by name over AMQP (Redis: no effect)")
}

// defaults returns the AMQP queue defaults of the flags.
func (q *queueArgs) defaults() camqp.QueueDefaults {
	return camqp.QueueDefaults{MaxPriority: q.maxPriority, DefaultQueueType: q.defaultType, MissingQueueType: q.missingType}
}

func (c *common) register(fs *flagSet) {
	fs.String(&c.app, "A app", "", "accepted for Celery compatibility and ignored: the Go binary's tasks are compiled in")
	fs.String(&c.broker, "b broker", "", "broker URL (default $CELERY_BROKER_URL, else redis://localhost:6379/0)")
	fs.String(&c.backend, "result-backend", "", "result backend URL: redis://..., or rpc:// with an AMQP broker (results sent back to the client that sent the task) (default $CELERY_RESULT_BACKEND, else the broker)")
	fs.String(&c.keyPrefix, "global-keyprefix", "", "prefix of every broker key and channel, as kombu's broker_transport_options={'global_keyprefix': ...} (default $CELERIAC_GLOBAL_KEYPREFIX, else the broker URL's ?global_keyprefix=)")
	fs.String(&c.resultKeyPrefix, "result-global-keyprefix", "", "prefix of result keys, as Celery's result_backend_transport_options={'global_keyprefix': ...}; _ is appended unless it ends in : _ - or . (default $CELERIAC_RESULT_GLOBAL_KEYPREFIX, else the result backend URL's ?global_keyprefix=)")
	fs.Choice(&c.loglevel, "l loglevel", "info", logLevels(), "log level, in any case")
	fs.Choice(&c.logFormat, "log-format", "text", []string{"text", "json"}, "log format")
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

// brokerOptions returns the broker options from --global-keyprefix or
// its environment variable; without either, a ?global_keyprefix= in the
// broker URL applies (redis.NewBroker).
func (c *common) brokerOptions() []credis.Option {
	if p := cmp.Or(c.keyPrefix, os.Getenv("CELERIAC_GLOBAL_KEYPREFIX")); p != "" {
		return []credis.Option{credis.WithKeyPrefix(p)}
	}
	return nil
}

// backendOptions is brokerOptions for the result backend.
func (c *common) backendOptions() []credis.Option {
	if p := cmp.Or(c.resultKeyPrefix, os.Getenv("CELERIAC_RESULT_GLOBAL_KEYPREFIX")); p != "" {
		return []credis.Option{credis.WithResultKeyPrefix(p)}
	}
	return nil
}

// newBroker opens the broker of --broker with --global-keyprefix.
func (c *common) newBroker(log *slog.Logger) (*credis.Broker, error) {
	return newBroker(c.brokerURL(), append([]credis.Option{credis.WithLogger(log)}, c.brokerOptions()...)...)
}

// newTransport opens the broker of --broker, of whichever transport
// speaks its URL (Redis with --global-keyprefix).
func (c *common) newTransport(log *slog.Logger) (celery.Transport, error) {
	return newTransport(c.brokerURL(), transportConfig{log: log, redisOpts: c.brokerOptions(), queues: c.declare.defaults()})
}

// logger returns a logger writing to w at --loglevel in --log-format.
func (c *common) logger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch c.loglevel {
	case "debug":
		level = slog.LevelDebug
	case "warning", "warn":
		level = slog.LevelWarn
	case "error", "critical", "fatal":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parse parses args with fs. -h and --help print the help on stdout and
// return flag.ErrHelp; a mistake is returned as a *usageError.
func parse(fs *flagSet, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		synopsis := fs.synopsis
		if synopsis == "" {
			synopsis = "celeriac " + fs.name + " [flags]"
		}
		fmt.Fprintf(stdout, "usage: %s\n\nflags:\n", synopsis)
		fs.PrintHelp(stdout)
	}
	return err
}
