package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/rconn"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

type workerFlags struct {
	common
	queues          string
	concurrency     int
	nodename        string
	prefetch        int
	acksLate        bool
	trackStarted    bool
	events          bool
	withoutControl  bool
	heartbeat       float64
	shutdownTimeout time.Duration
	timeLimit       float64
	softTimeLimit   float64
	visibility      time.Duration
	resultExpires   time.Duration
	app             string
	maxMessageSize  int
}

func (f *workerFlags) register(fs *flag.FlagSet) {
	f.common.register(fs)
	fs.StringVar(&f.app, "A", "", "ignored (Celery compatibility: the Go worker's tasks are compiled in)")
	fs.StringVar(&f.queues, "Q", celery.DefaultQueue, "comma-separated queues to consume")
	fs.IntVar(&f.concurrency, "c", 0, "concurrency: tasks run at once (default: CPU count)")
	fs.StringVar(&f.nodename, "n", "celery@%h", "node name; %h = host name, %n = its first label, %d = its domain")
	fs.IntVar(&f.prefetch, "prefetch-multiplier", 4, "prefetch window = concurrency × this (0 = unlimited)")
	fs.BoolVar(&f.acksLate, "acks-late", false, "acknowledge after the task ran (at least once)")
	fs.BoolVar(&f.trackStarted, "track-started", false, "store a STARTED state before running")
	fs.BoolVar(&f.events, "E", false, "send task events (worker events are always sent)")
	fs.BoolVar(&f.withoutControl, "without-control", false, "do not answer remote-control commands (inspect, revoke, ...)")
	fs.Float64Var(&f.heartbeat, "heartbeat-interval", 2, "seconds between worker-heartbeat events")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "warm shutdown: wait this long for running tasks")
	fs.Float64Var(&f.timeLimit, "time-limit", 0, "default hard time limit in seconds (0 = none)")
	fs.Float64Var(&f.softTimeLimit, "soft-time-limit", 0, "default soft time limit in seconds (0 = none)")
	fs.DurationVar(&f.visibility, "visibility-timeout", time.Hour, "unacked messages older than this are restored")
	fs.DurationVar(&f.resultExpires, "result-expires", 24*time.Hour, "how long results are kept (0 = forever)")
	fs.IntVar(&f.maxMessageSize, "max-message-size", worker.DefaultMaxMessageSize, "largest task message taken, in bytes; a larger one is rejected with a FAILURE (0 = unlimited)")
}

// expandNodename expands Celery's %h, %n and %d.
func expandNodename(name string) string {
	host, _ := os.Hostname()
	short, domain, _ := strings.Cut(host, ".")
	r := strings.NewReplacer("%h", host, "%n", short, "%d", domain, "%%", "%")
	name = r.Replace(name)
	if !strings.Contains(name, "@") {
		name = "celery@" + name
	}
	return name
}

func cmdWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var f workerFlags
	f.register(fs)
	log, err := setup(fs, &f.common, args, stderr)
	if err != nil {
		return err
	}
	if err := checkQueues(stderr, "worker", "-Q", f.queues); err != nil {
		return err
	}
	return runWorker(ctx, &f, f.brokerURL(), f.backendURL(), log)
}

func runWorker(ctx context.Context, f *workerFlags, brokerURL, backendURL string, log *slog.Logger) error {
	if f.concurrency < 0 || f.prefetch < 0 || f.maxMessageSize < 0 {
		return errors.New("-c, --prefetch-multiplier and --max-message-size must not be negative")
	}
	queues := splitList(f.queues)
	if len(queues) == 0 {
		return errors.New("-Q: no queues")
	}
	broker, err := celery.NewBroker(brokerURL, celery.WithLogger(log), celery.WithVisibilityTimeout(f.visibility))
	if err != nil {
		return err
	}
	defer broker.Close()
	if err := checkAuth(ctx, broker, brokerURL); err != nil {
		return err
	}
	var backend *celery.Backend
	if backendURL == brokerURL {
		backend = celery.NewBackendFromPool(broker.Pool(), celery.WithResultExpires(f.resultExpires), celery.WithBackendLogger(log))
	} else if backend, err = celery.NewBackend(backendURL, celery.WithResultExpires(f.resultExpires), celery.WithBackendLogger(log)); err != nil {
		return err
	}
	defer backend.Close()
	mux := worker.NewServeMux()
	builtin.Register(mux, broker.Pool())
	w := worker.New(broker, backend, mux,
		worker.WithQueues(queues...),
		worker.WithConcurrency(f.concurrency),
		worker.WithPrefetchMultiplier(f.prefetch),
		worker.WithAcksLate(f.acksLate),
		worker.WithTrackStarted(f.trackStarted),
		worker.WithHostname(expandNodename(f.nodename)),
		worker.WithLogger(log),
		worker.WithShutdownTimeout(f.shutdownTimeout),
		worker.WithTimeLimits(seconds(f.timeLimit), seconds(f.softTimeLimit)),
		worker.WithEvents(f.events),
		worker.WithPidbox(!f.withoutControl),
		worker.WithHeartbeatInterval(seconds(f.heartbeat)),
		worker.WithBrokerURL(brokerURL, backendURL),
		worker.WithSweepInterval(sweepInterval(f.visibility)),
		worker.WithMaxMessageSize(f.maxMessageSize),
	)
	log.Info("connecting", "broker", redactURL(brokerURL), "tasks", mux.Names())
	// A second signal during the warm shutdown exits at once (cold
	// shutdown): unacknowledged messages stay in Redis for the sweep.
	go func() {
		<-ctx.Done()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
		<-sig
		log.Warn("cold shutdown: exiting now; held messages return after the visibility timeout")
		os.Exit(1)
	}()
	return w.Run(ctx)
}

// sweepInterval is how often the visibility sweep runs: every 100 s (the
// worker's default), or twice per visibility timeout when that is shorter,
// so that a dead worker's messages come back soon after they are due.
func sweepInterval(visibility time.Duration) time.Duration {
	return max(time.Second, min(100*time.Second, visibility/2))
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// checkAuth pings the broker: a refused password or certificate will not
// get better by retrying, so it is reported in one line, rather than
// retried forever as for an unreachable broker. For rediss:// a TLS probe
// first waits for the alert of a server that wants a client certificate
// (a command written at once could lose it to the connection reset). An
// unreachable broker (a dial error) is left to the worker's reconnecting,
// without delay here.
func checkAuth(ctx context.Context, broker *celery.Broker, brokerURL string) error {
	if cfg, err := rconn.ParseURL(brokerURL); err == nil {
		if err := cfg.ProbeTLS(ctx, 300*time.Millisecond); rconn.IsAuthError(err) {
			return fmt.Errorf("broker %s refused the connection: %w", redactURL(brokerURL), err)
		}
	}
	for try := 0; try < 5; try++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := broker.Ping(pctx)
		cancel()
		if rconn.IsAuthError(err) {
			return fmt.Errorf("broker %s refused the connection: %w", redactURL(brokerURL), err)
		}
		var oe *net.OpError
		if err == nil || (errors.As(err, &oe) && oe.Op == "dial") || ctx.Err() != nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// redactURL hides the passwords of a broker URL for printing.
func redactURL(u string) string { return rconn.Redact(u) }
