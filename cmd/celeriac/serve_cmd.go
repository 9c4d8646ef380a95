package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/celeriac/celeriac/api"
	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/embedded"
	"github.com/celeriac/celeriac/worker/builtin"
)

type serveFlags struct {
	workerFlags
	addr         string
	embeddedAddr string
	runWorker    bool
	allowTasks   string
	maxBody      int
	maxResult    int
	maxWait      time.Duration
	maxInFlight  int
	rateLimit    float64
	rateBurst    int
	proxies      string
	urlFile      string
}

func (f *serveFlags) register(fs *flagSet) {
	f.workerFlags.register(fs)
	fs.String(&f.addr, "addr", "127.0.0.1:8000", "HTTP API listen address (other than loopback, set $CELERIAC_API_TOKEN)")
	fs.String(&f.embeddedAddr, "embedded-addr", "127.0.0.1:6379", "address of the embedded broker, used when neither --broker nor $CELERY_BROKER_URL is set (a free port if taken)")
	fs.Bool(&f.runWorker, "worker", true, "run a Go worker with the built-in tasks in this process")
	fs.String(&f.allowTasks, "allow-tasks", "", "comma-separated task names POST /api/v1/tasks/{name} may send (default: tasks.add, tasks.mul, tasks.sample_task, tasks.xsum; the test-only built-ins must be named)")
	fs.Count(&f.maxBody, "max-body", 1<<20, "request body limit in bytes")
	fs.Count(&f.maxResult, "max-result-bytes", api.DefaultMaxResultBytes, "largest stored result, in bytes, the API reads and returns for one task; larger ones get 413 (0 = no limit)")
	fs.Duration(&f.maxWait, "max-wait", 60*time.Second, "cap of ?wait= on GET /api/v1/tasks/{id}")
	fs.Count(&f.maxInFlight, "max-in-flight", 1024, "API requests served at once; more are shed with 503 and Retry-After (0 = no limit)")
	fs.Float(&f.rateLimit, "rate-limit", 0, "API requests per second per client IP, 429 beyond (0 = no limit)")
	fs.Count(&f.rateBurst, "rate-burst", 0, "API requests a client may burst above --rate-limit (0 = 2 × the rate)")
	fs.String(&f.proxies, "trusted-proxies", "", "comma-separated proxy IPs/CIDRs whose X-Forwarded-For names the client (default none)")
	fs.String(&f.urlFile, "broker-url-file", "", "once serving, write the broker URL to this file (mode 0600; removed at exit); `make run` writes bin/broker-url for `make flower`")
}

// HTTP server timeouts. Writes may last as long as the longest ?wait=;
// event streams lift the write deadline themselves.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 120 * time.Second
	httpShutdown      = 10 * time.Second
)

// cmdServe is `celeriac serve` (and `celeriac run`, what `make run`
// starts): the HTTP API, a Go worker with the built-in tasks and, unless a
// broker is named, an embedded in-memory broker, all in one process.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve")
	var f serveFlags
	f.register(fs)
	log, done, err := setup(fs, &f.common, &f.daemon, args, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := f.finish(fs); err != nil {
		return err
	}
	for _, p := range splitList(f.proxies) {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return usagef("--trusted-proxies: %q is not an IP address or CIDR", p)
		}
	}
	if f.rateLimit < 0 || f.maxWait < 0 {
		return usagef("--rate-limit and --max-wait must not be negative")
	}
	f.notes(fs, log)
	if f.maxTasksPerChild > 0 || f.maxMemoryPerChild > 0 {
		log.Warn("--max-tasks-per-child and --max-memory-per-child apply to `celeriac worker` only: serve's worker is not recycled")
	}
	token, err := apiToken(log)
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)

	brokerURL, embedded := f.broker, ""
	if brokerURL == "" {
		brokerURL = os.Getenv("CELERY_BROKER_URL")
	}
	if brokerURL == "" {
		emb, err := startEmbedded(f.embeddedAddr, stderr)
		if err != nil {
			return err
		}
		defer emb.Close()
		brokerURL, embedded = emb.URL(), emb.Addr()
	}
	backendURL := f.backendURL()
	if f.backend == "" && os.Getenv("CELERY_RESULT_BACKEND") == "" {
		backendURL = brokerURL
	}

	broker, backend, err := dialURLs(brokerURL, backendURL, log, f.declare.defaults(), f.brokerOptions(), f.backendOptions())
	if err != nil {
		return err
	}
	defer broker.Close()
	defer backend.Close()
	client := celery.NewClient(broker, backend, routerOptions(f.routes)...)
	if err := checkAuth(ctx, broker, brokerURL); err != nil {
		return err
	}
	if f.events {
		// -E: the API's sends emit task-sent too (task_send_sent_event),
		// under the client node name Python uses, gen<pid>@<host>.
		host, _ := os.Hostname()
		disp := events.NewDispatcher(broker, "gen"+strconv.Itoa(os.Getpid())+"@"+host, events.WithLogger(log), events.WithSerializer(f.eventSerializer))
		defer disp.Close()
		client = celery.NewClient(broker, backend, append(routerOptions(f.routes), celery.WithSentHook(disp.TaskSent))...)
	}

	allowed := splitList(f.allowTasks)
	if len(allowed) == 0 {
		allowed = builtin.APITasks()
	}
	// The worker's metrics are served at the API's /metrics too.
	workerReg := prometheus.NewRegistry()
	if f.metricsAddr != "" {
		stop, url, err := serveMetrics(f.metricsAddr, workerReg)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer stop()
		log.Info("metrics", "url", url)
	}
	ctl := control.New(broker, control.WithLogger(log))
	handler := api.New(api.Deps{Client: client, Revoker: ctl, Workers: controlWorkers{ctl}, Pauser: newPauser(ctl, broker, pauseTimeout)},
		api.WithLogger(log),
		api.WithToken(token),
		api.WithAllowedTasks(allowed...),
		api.WithMaxDuration(int(f.maxDuration/time.Second)),
		api.WithMaxBodyBytes(int64(f.maxBody)),
		api.WithMaxResultBytes(f.maxResult),
		api.WithMaxWait(f.maxWait),
		api.WithQueues(f.queueList...),
		api.WithShutdown(ctx),
		api.WithMaxInFlight(f.maxInFlight),
		api.WithRateLimit(f.rateLimit, f.rateBurst),
		api.WithTrustedProxies(splitList(f.proxies)...),
		api.WithMetrics(workerReg),
	)

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", f.addr, err)
	}
	if strings.TrimSpace(token) == "" && !isLoopback(ln.Addr()) {
		log.Warn("the API listens on " + ln.Addr().String() + " without CELERIAC_API_TOKEN: anyone who can reach it may send and revoke tasks; " +
			"set CELERIAC_API_TOKEN, or listen on 127.0.0.1 (the default --addr)")
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      f.maxWait + 30*time.Second,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	})
	// The API answers at once (/readyz with 503 until the broker does);
	// "celeriac is serving" and the worker wait for the broker.
	if err := waitForBroker(ctx, broker.Ping, brokerURL, startupRetry, log); err != nil {
		srv.Close()
		wg.Wait()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	if f.runWorker {
		wg.Go(func() {
			if err := runWorker(wctx, &f.workerFlags, brokerURL, backendURL, log, workerReg); err != nil {
				errc <- fmt.Errorf("worker: %w", err)
			}
		})
	}
	printBanner(stdout, &f, ln.Addr(), brokerURL, embedded, allowed)
	if f.urlFile != "" {
		if err := os.WriteFile(f.urlFile, []byte(brokerURL+"\n"), 0o600); err != nil {
			log.Warn("--broker-url-file: could not write the broker URL", "error", err)
		} else {
			defer os.Remove(f.urlFile)
		}
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	// Stop taking requests first (in-flight ones finish; long waits and
	// event streams end at once through WithShutdown), then stop the
	// worker, which finishes its running tasks (warm shutdown).
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "error", err)
		srv.Close()
	}
	stopWorker()
	wg.Wait()
	close(errc)
	for err := range errc {
		runErr = errors.Join(runErr, err)
	}
	return runErr
}

// startEmbedded starts the in-memory broker on addr, or on a free port
// when addr is taken (with a message saying so).
func startEmbedded(addr string, stderr io.Writer) (*embedded.Server, error) {
	emb, err := embedded.Start(addr)
	if err == nil {
		return emb, nil
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		return nil, err
	}
	if emb, err = embedded.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "celeriac serve: %s is taken (%v); the embedded broker uses %s instead.\n"+
		"  To use the Redis already there instead: %s serve --broker redis://%s/0\n", addr, opErr.Err, emb.Addr(), os.Args[0], addr)
	return emb, nil
}

// isLoopback reports whether a listener's address is reachable from this
// host only.
func isLoopback(a net.Addr) bool {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// printBanner prints what `celeriac serve` offers and commands that run
// as written. Its "API:" and "Broker:" lines are stable (tests and
// scripts read the first field after the label); the broker's password,
// if any, is masked there.
func printBanner(w io.Writer, f *serveFlags, httpAddr net.Addr, brokerURL, embedded string, allowed []string) {
	host, port, _ := net.SplitHostPort(httpAddr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	base := "http://" + net.JoinHostPort(host, port)
	kind := "Redis"
	memory := ""
	if embedded != "" {
		kind = "embedded, in memory"
		memory = fmt.Sprintf(`
The embedded broker keeps everything in memory: Ctrl-C discards queued
tasks and results. To keep them, use a real Redis instead:
  %s serve --broker redis://localhost:6379/0
`, os.Args[0])
	}
	workerLine := "none in this process (--worker=false)"
	if f.runWorker {
		workerLine = fmt.Sprintf("%s on queue(s) %s", expandNodename(f.nodename), strings.Join(f.queueList, ","))
	}
	b := redactURL(brokerURL)
	fmt.Fprintf(w, `
celeriac is serving.

  API:        %[1]s    (docs %[1]s/docs, OpenAPI %[1]s/openapi.json, metrics %[1]s/metrics)
  Broker:     %[2]s    (%[3]s)
  Go worker:  %[4]s
  Tasks the API may send: %[5]s
%[6]s
Try it:
  curl '%[1]s/run-task/?duration=1'
  curl %[1]s/task-status/<task_id>
  curl -X POST %[1]s/api/v1/tasks/tasks.add -H 'Content-Type: application/json' -d '{"args": [2, 3]}'
  curl '%[1]s/api/v1/tasks/<id>?wait=5s'
  curl -N %[1]s/api/v1/tasks/<id>/events
  %[7]s call tasks.add --args '[2, 3]' --wait --broker %[2]s

Flower 2.2 (from the repository: `+"`make flower`"+` starts it against this broker;
.venv, made by `+"`make venv`"+`, has Flower and Celery):
  .venv/bin/celery --broker=%[2]s flower --address=127.0.0.1 --port=5555

From Python (Celery 5.x; .venv/bin/python has it):
  .venv/bin/python -c "from celery import Celery; a = Celery(broker='%[2]s', backend='%[2]s'); print(a.send_task('tasks.add', (2, 3)).get(timeout=10))"

Press Ctrl-C to stop.

`, base, b, kind, workerLine, strings.Join(allowed, ", "), memory, os.Args[0])
}

// controlWorkers lists workers through remote control: ping says who is
// online, inspect active and stats how busy each is.
type controlWorkers struct{ c *control.Control }

const inspectTimeout = time.Second

func (w controlWorkers) Workers(ctx context.Context) ([]api.WorkerInfo, error) {
	var (
		wg                    sync.WaitGroup
		pings                 map[string]control.Status
		active                map[string][]control.TaskInfo
		stats                 map[string]control.Stats
		pingErr, actErr, sErr error
	)
	wg.Go(func() { pings, pingErr = w.c.Ping(ctx, inspectTimeout) })
	wg.Go(func() { active, actErr = w.c.Active(ctx, false, inspectTimeout) })
	wg.Go(func() { stats, sErr = w.c.Stats(ctx, inspectTimeout) })
	wg.Wait()
	// A node whose reply is an error or of another shape is still listed
	// (it answered); only a failed broadcast fails the listing.
	if err := errors.Join(control.WithoutNodeErrors(pingErr), control.WithoutNodeErrors(actErr), control.WithoutNodeErrors(sErr)); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for n := range pings {
		names[n] = true
	}
	for n := range active {
		names[n] = true
	}
	for n := range stats {
		names[n] = true
	}
	out := make([]api.WorkerInfo, 0, len(names))
	for n := range names {
		info := api.WorkerInfo{Hostname: n, Active: len(active[n])}
		_, info.Online = pings[n]
		for _, v := range stats[n].Total {
			info.Processed += int(v)
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b api.WorkerInfo) int { return strings.Compare(a.Hostname, b.Hostname) })
	return out, nil
}
