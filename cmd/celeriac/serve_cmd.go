package main

import (
	"context"
	"errors"
	"flag"
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

	"github.com/celeriac/celeriac/api"
	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

type serveFlags struct {
	workerFlags
	addr         string
	embeddedAddr string
	runWorker    bool
	allowTasks   string
	maxDuration  int
	maxBody      int64
	maxWait      time.Duration
	maxInFlight  int
	rateLimit    float64
	rateBurst    int
	proxies      string
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.workerFlags.register(fs)
	fs.StringVar(&f.addr, "addr", ":8000", "HTTP API listen address")
	fs.StringVar(&f.embeddedAddr, "embedded-addr", "127.0.0.1:6379", "address of the embedded broker, used when neither --broker nor $CELERY_BROKER_URL is set (a free port if taken)")
	fs.BoolVar(&f.runWorker, "worker", true, "run a Go worker with the built-in tasks in this process")
	fs.StringVar(&f.allowTasks, "allow-tasks", "", "comma-separated task names POST /api/v1/tasks/{name} may send (default: the built-in tasks)")
	fs.IntVar(&f.maxDuration, "max-duration", 3600, "largest duration /run-task/ accepts, in seconds")
	fs.Int64Var(&f.maxBody, "max-body", 1<<20, "request body limit in bytes")
	fs.DurationVar(&f.maxWait, "max-wait", 60*time.Second, "cap of ?wait= on GET /api/v1/tasks/{id}")
	fs.IntVar(&f.maxInFlight, "max-in-flight", 1024, "API requests served at once; more are shed with 503 and Retry-After (0 = no limit)")
	fs.Float64Var(&f.rateLimit, "rate-limit", 0, "API requests per second per client IP, 429 beyond (0 = no limit)")
	fs.IntVar(&f.rateBurst, "rate-burst", 0, "API requests a client may burst above --rate-limit (0 = 2 × the rate)")
	fs.StringVar(&f.proxies, "trusted-proxies", "", "comma-separated proxy IPs/CIDRs whose X-Forwarded-For names the client (default none)")
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
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	log, err := setup(fs, &f.common, args, stderr)
	if err != nil {
		return err
	}
	if err := checkQueues(stderr, "serve", "-Q", f.queues); err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	for _, p := range splitList(f.proxies) {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return fmt.Errorf("--trusted-proxies: %q is not an IP address or CIDR", p)
		}
	}

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

	client, err := celery.NewClient(brokerURL, celery.WithResultBackend(backendURL), celery.WithClientLogger(log))
	if err != nil {
		return err
	}
	defer client.Close()
	if err := checkAuth(ctx, client.Broker(), brokerURL); err != nil {
		return err
	}
	if f.events {
		// -E: the API's sends emit task-sent too (task_send_sent_event),
		// under the client node name Python uses, gen<pid>@<host>.
		host, _ := os.Hostname()
		disp := events.NewDispatcher(client.Broker(), "gen"+strconv.Itoa(os.Getpid())+"@"+host, events.WithDispatcherLogger(log))
		defer disp.Close()
		client = celery.NewClientFrom(client.Broker(), client.Backend(), celery.WithSentHook(disp.TaskSent))
	}

	allowed := splitList(f.allowTasks)
	if len(allowed) == 0 {
		mux := worker.NewServeMux()
		builtin.Register(mux, client.Broker().Pool())
		allowed = mux.Names()
	}
	ctl := control.New(client.Broker(), control.WithLogger(log))
	handler := api.New(api.Deps{Client: client, Revoker: ctl, Workers: controlWorkers{ctl}},
		api.WithLogger(log),
		api.WithToken(os.Getenv("CELERIAC_API_TOKEN")),
		api.WithAllowedTasks(allowed...),
		api.WithMaxDuration(f.maxDuration),
		api.WithMaxBodyBytes(f.maxBody),
		api.WithMaxWait(f.maxWait),
		api.WithQueues(splitList(f.queues)...),
		api.WithShutdown(ctx),
		api.WithMaxInFlight(f.maxInFlight),
		api.WithRateLimit(f.rateLimit, f.rateBurst),
		api.WithTrustedProxies(splitList(f.proxies)...),
	)

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", f.addr, err)
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
	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	if f.runWorker {
		wg.Go(func() {
			if err := runWorker(wctx, &f.workerFlags, brokerURL, backendURL, log); err != nil {
				errc <- fmt.Errorf("worker: %w", err)
			}
		})
	}
	printBanner(stdout, &f, ln.Addr(), brokerURL, embedded, allowed)

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
func startEmbedded(addr string, stderr io.Writer) (*celery.Embedded, error) {
	emb, err := celery.StartEmbedded(addr)
	if err == nil {
		return emb, nil
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		return nil, err
	}
	if emb, err = celery.StartEmbedded("127.0.0.1:0"); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "celeriac serve: %s is taken (%v); the embedded broker uses %s instead.\n"+
		"  (To use the Redis already on %s, pass --broker redis://%s/0.)\n", addr, opErr.Err, emb.Addr(), addr, addr)
	return emb, nil
}

func printBanner(w io.Writer, f *serveFlags, httpAddr net.Addr, brokerURL, embedded string, allowed []string) {
	host, port, _ := net.SplitHostPort(httpAddr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	base := "http://" + net.JoinHostPort(host, port)
	kind := "Redis"
	if embedded != "" {
		kind = "embedded, in memory"
	}
	workerLine := "none in this process (--worker=false)"
	if f.runWorker {
		workerLine = fmt.Sprintf("%s on queue(s) %s", expandNodename(f.nodename), f.queues)
	}
	b := redactURL(brokerURL)
	fmt.Fprintf(w, `
celeriac is serving.

  API:        %[1]s    (docs %[1]s/docs, OpenAPI %[1]s/openapi.json, metrics %[1]s/metrics)
  Broker:     %[2]s    (%[3]s)
  Go worker:  %[4]s
  Tasks the API may send: %[5]s

Try it:
  curl '%[1]s/run-task/?duration=1'
  curl %[1]s/task-status/<task_id>
  curl -X POST %[1]s/api/v1/tasks/tasks.add -H 'Content-Type: application/json' -d '{"args": [2, 3]}'
  curl '%[1]s/api/v1/tasks/<id>?wait=5s'
  curl -N %[1]s/api/v1/tasks/<id>/events

Flower:
  celery --broker=%[2]s flower --port=5555

From Python (celery 5.x):
  python -c "from celery import Celery; a = Celery(broker='%[2]s', backend='%[2]s'); print(a.send_task('tasks.add', (2, 3)).get(timeout=10))"

Press Ctrl-C to stop.

`, base, b, kind, workerLine, strings.Join(allowed, ", "))
}

// controlWorkers lists workers through remote control: ping says who is
// online, inspect active and stats how busy each is.
type controlWorkers struct{ c *control.Control }

const inspectTimeout = time.Second

func (w controlWorkers) Workers(ctx context.Context) ([]api.WorkerInfo, error) {
	var (
		wg                    sync.WaitGroup
		pings, active, stats  map[string]any
		pingErr, actErr, sErr error
	)
	wg.Go(func() { pings, pingErr = w.c.Ping(ctx, inspectTimeout) })
	wg.Go(func() { active, actErr = w.c.Inspect(ctx, "active", nil, inspectTimeout) })
	wg.Go(func() { stats, sErr = w.c.Inspect(ctx, "stats", nil, inspectTimeout) })
	wg.Wait()
	if err := errors.Join(pingErr, actErr, sErr); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, m := range []map[string]any{pings, active, stats} {
		for n := range m {
			names[n] = true
		}
	}
	out := make([]api.WorkerInfo, 0, len(names))
	for n := range names {
		info := api.WorkerInfo{Hostname: n}
		_, info.Online = pings[n]
		if l, ok := active[n].([]any); ok {
			info.Active = len(l)
		}
		if s, ok := stats[n].(map[string]any); ok {
			if total, ok := s["total"].(map[string]any); ok {
				for _, v := range total {
					info.Processed += toInt(v)
				}
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b api.WorkerInfo) int { return strings.Compare(a.Hostname, b.Hostname) })
	return out, nil
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case interface{ Int64() (int64, error) }:
		n, _ := x.Int64()
		return int(n)
	}
	return 0
}
