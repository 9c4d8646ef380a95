package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // time zones in images without /usr/share/zoneinfo

	credis "github.com/celeriac/celeriac/celery/redis"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/celeriac/celeriac/beat"
	"github.com/celeriac/celeriac/celery"
)

type beatFlags struct {
	common
	daemon
	schedule     string
	dryRun       bool
	count        int
	name         string
	lease        time.Duration
	lateWindow   time.Duration
	catchUp      string
	defaultQueue string
	metricsAddr  string
	routesFile   string
}

func (f *beatFlags) register(fs *flagSet) {
	f.common.register(fs)
	f.daemon.register(fs)
	f.declare.register(fs)
	fs.String(&f.schedule, "s schedule", "", "schedule file, YAML (.yaml, .yml) or TOML (.toml); see docs/beat.md (required)")
	fs.Bool(&f.dryRun, "dry-run", false, "print each entry's next due times and exit; needs no broker")
	fs.Int(&f.count, "n", 5, "with --dry-run: due times to print per entry")
	fs.String(&f.name, "name", "default", "schedule name: beats with the same name share one lock and one record of last runs")
	fs.Duration(&f.lease, "lease", 10*time.Second, "leader lock lease: a standby takes over at most this long after the leader died")
	fs.Duration(&f.lateWindow, "late-window", 0, "due times late by up to this are all sent; older ones follow --catch-up (default: the file's late_window, else 1m; at least 2 leases)")
	fs.String(&f.catchUp, "catch-up", "", "missed due times older than the late window: once (send the latest) or skip (default: the file's catch_up, else once)")
	fs.String(&f.defaultQueue, "default-queue", celery.DefaultQueue, "queue of entries that name none")
	fs.String(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address at /metrics, e.g. :9808 (default: off)")
	fs.String(&f.routesFile, "routes", "", "routing file, YAML or TOML (.toml): an entry without a queue goes to its task's task_routes queue (beat sends to plain queues only); see docs/interop.md#routing")
}

func cmdBeat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("beat")
	var f beatFlags
	f.register(fs)
	log, done, err := setup(fs, &f.common, &f.daemon, args, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	if f.schedule == "" {
		return usagef("--schedule: a schedule file is required")
	}
	if f.count < 1 {
		return usagef("-n: want at least 1")
	}
	routes, err := loadRoutes("--routes", f.routesFile)
	if err != nil {
		return err
	}
	cfg, err := beat.LoadFile(f.schedule)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "beat: "))
	}
	if f.dryRun {
		return dryRun(stdout, cfg, f.count, time.Now())
	}
	catchUp := cfg.CatchUp
	if f.catchUp != "" {
		if catchUp, err = beat.ParseCatchUp(f.catchUp); err != nil {
			return usagef("--catch-up: %w", err)
		}
	}
	window := cfg.LateWindow
	if f.lateWindow != 0 {
		window = f.lateWindow
	}
	if window < 0 {
		return usagef("--late-window must not be negative")
	}
	store, closeStore, err := f.beatStore(log)
	if err != nil {
		return err
	}
	defer closeStore()
	reg := prometheus.NewRegistry()
	opts := []beat.Option{beat.WithName(f.name), beat.WithLease(f.lease),
		beat.WithLateWindow(window), beat.WithCatchUp(catchUp), beat.WithDefaultQueue(f.defaultQueue),
		beat.WithLogger(log), beat.WithRegisterer(reg)}
	if routes != nil {
		opts = append(opts, beat.WithRoutes(routes))
	}
	b, err := beat.New(store, cfg.Entries, opts...)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "beat: "))
	}
	if f.metricsAddr != "" {
		stop, url, err := serveMetrics(f.metricsAddr, reg)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer stop()
		log.Info("metrics", "url", url)
	}
	log.Info("connecting", "broker", redactURL(f.brokerURL()), "schedule", f.schedule)
	return b.Run(ctx)
}

// serveMetrics serves what g gathers, plus Go and process metrics, at
// addr/metrics until stop is called; url is where (the port chosen when
// addr's is 0).
func serveMetrics(addr string, g prometheus.Gatherer) (stop func(), url string, err error) {
	runtimeReg := prometheus.NewRegistry()
	runtimeReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{g, runtimeReg}, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, "http://" + ln.Addr().String() + "/metrics", nil
}

// dryRun prints each entry's next n due times after now, in the entry's
// time zone and in UTC.
func dryRun(w io.Writer, cfg *beat.Config, n int, now time.Time) error {
	bw := bufio.NewWriter(w)
	for _, e := range cfg.Entries {
		fmt.Fprintf(bw, "%s  %s  %s\n", e.Name, e.Task, e.Schedule)
		loc := cfg.Timezone
		if c, ok := e.Schedule.(*beat.Crontab); ok {
			loc = c.Location()
		}
		for _, t := range beat.Upcoming(e.Schedule, now, n) {
			fmt.Fprintf(bw, "  %s  %s\n", t.In(loc).Format("Mon 2006-01-02 15:04:05 MST"), t.UTC().Format(time.RFC3339))
		}
	}
	return bw.Flush()
}

// beatStore opens where beat keeps its lock and last runs and sends its
// messages: the broker's Redis (one atomic step); with an AMQP broker,
// the result backend's Redis for the lock and last runs, the messages
// sent over AMQP (beat.SendThrough).
func (f *beatFlags) beatStore(log *slog.Logger) (beat.Store, func(), error) {
	if t, _ := transportOf(f.brokerURL()); t != "amqp" {
		broker, err := f.newBroker(log)
		if err != nil {
			return nil, nil, err
		}
		return credis.NewBeatStore(broker, f.name), func() { broker.Close() }, nil
	}
	backendURL := f.backendURL()
	if t, _ := transportOf(backendURL); t != "redis" {
		return nil, nil, usagef("beat over AMQP keeps its lock and last runs in Redis: set --result-backend redis://... (got %q)", redactURL(backendURL))
	}
	rb, err := credis.NewBroker(backendURL, credis.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	tr, err := f.newTransport(log)
	if err != nil {
		rb.Close()
		return nil, nil, err
	}
	return beat.SendThrough(credis.NewBeatStore(rb, f.name), tr), func() { tr.Close(); rb.Close() }, nil
}
