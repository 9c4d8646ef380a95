package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/celeriac/celeriac/celery"
	camqp "github.com/celeriac/celeriac/celery/amqp"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/celery/security"
	"github.com/celeriac/celeriac/internal/redact"
	"github.com/celeriac/celeriac/internal/testtasks"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

type workerFlags struct {
	common
	daemon
	queues, excludeQueues string
	concurrency           int
	nodename              string
	prefetch              int
	acksLate              bool
	trackStarted          bool
	resultExtended        bool
	acksOnFailure         bool
	rejectOnWorkerLost    bool
	storeErrorsIgnored    bool
	events                bool
	withoutControl        bool
	withoutHeartbeat      bool
	withoutGossip         bool
	withoutMingle         bool
	beat                  bool
	purge                 bool
	disablePrefetch       bool
	pool, optimization    string
	acceptContent         string
	resultSerializer      string
	resultCompression     string
	resultPersistent      bool
	securityCertStore     string
	securityKey           string
	securityCertificate   string
	securityDigest        string
	heartbeat             time.Duration
	shutdownTimeout       time.Duration
	timeLimit             time.Duration
	softTimeLimit         time.Duration
	visibility            time.Duration
	resultExpires         time.Duration
	maxTasksPerChild      int
	maxMemoryPerChild     int
	autoscale             string
	autoscaleMax          int // from autoscale, set by finish
	autoscaleMin          int
	softShutdownTimeout   time.Duration
	maxMessageSize        int
	metricsAddr           string
	maxDuration           time.Duration
	archiveMaxCount       int
	archiveMaxAge         time.Duration

	routesFile      string
	broadcastQueues string
	workerDirect    bool
	eventSerializer string

	queueList []string       // -Q less -X, set by finish
	routes    *celery.Routes // --routes, loaded by finish (nil: none)
}

// celeryPools returns the names celery worker -P takes
// (celery/concurrency/__init__.py ALIASES).
func celeryPools() []string {
	return []string{"prefork", "processes", "threads", "solo", "gevent", "eventlet", "custom"}
}

func (f *workerFlags) register(fs *flagSet) {
	f.common.register(fs)
	f.daemon.register(fs)
	f.declare.register(fs)
	fs.String(&f.queues, "Q queues", celery.DefaultQueue, "comma-separated queues to consume")
	fs.String(&f.excludeQueues, "X exclude-queues", "", "comma-separated queues not to consume (taken out of -Q)")
	fs.Var(&concurrencyValue{&f.concurrency}, "c concurrency", "int", "tasks run at once; 0 or auto = the CPU count")
	fs.String(&f.nodename, "n hostname", "celery@%h", "node name; %h = host name, %n = its first label, %d = its domain")
	fs.Count(&f.prefetch, "prefetch-multiplier", 4, "prefetch window = concurrency × this (0 = unlimited)")
	fs.Bool(&f.disablePrefetch, "disable-prefetch", false, "take a message only when a goroutine is free to run it (--prefetch-multiplier 1)")
	fs.Bool(&f.purge, "purge discard", false, "delete the messages waiting in the consumed queues before consuming (celery worker --purge)")
	fs.Choice(&f.pool, "P pool", "prefork", celeryPools(), "accepted for Celery compatibility: tasks run in goroutines whatever the pool; solo means -c 1 unless -c is given")
	fs.Choice(&f.optimization, "O optimization", "default", []string{"default", "fair"}, "accepted for Celery compatibility: the Go worker always gives a task to a free goroutine, as -O fair does")
	fs.Bool(&f.acksLate, "acks-late", false, "acknowledge after the task ran (at least once)")
	fs.Bool(&f.trackStarted, "track-started", false, "store a STARTED state before running")
	fs.Bool(&f.acksOnFailure, "acks-on-failure-or-timeout", true, "task_acks_on_failure_or_timeout, with --acks-late: acknowledge a failed or timed-out task's message; false rejects a failed one and requeues one past its hard time limit")
	fs.Bool(&f.rejectOnWorkerLost, "reject-on-worker-lost", false, "task_reject_on_worker_lost, with --acks-late: requeue the message of a task whose handler panics instead of storing a FAILURE")
	fs.Bool(&f.storeErrorsIgnored, "store-errors-even-if-ignored", false, "task_store_errors_even_if_ignored: store failures of tasks whose result is ignored")
	fs.Bool(&f.resultExtended, "result-extended", false, "result_extended: store the task name, args, kwargs, worker, retries and queue with each result (off by default, as Celery)")
	fs.Bool(&f.events, "E events task-events", false, "send task events (worker events are always sent)")
	fs.Bool(&f.withoutControl, "without-control", false, "do not answer remote-control commands (inspect, revoke, ...)")
	fs.Bool(&f.withoutHeartbeat, "without-heartbeat", false, "accepted for Celery compatibility and ignored: worker-heartbeat events are always sent (Flower and inspect need them)")
	fs.Bool(&f.withoutGossip, "without-gossip", false, "accepted for Celery compatibility: the Go worker does not gossip")
	fs.Bool(&f.withoutMingle, "without-mingle", false, "accepted for Celery compatibility: the Go worker does not mingle at startup")
	fs.Bool(&f.beat, "B beat", false, "not supported: run `celeriac beat --schedule FILE` beside the worker")
	fs.Duration(&f.heartbeat, "heartbeat-interval", 2*time.Second, "interval between worker-heartbeat events")
	fs.Duration(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "warm shutdown: wait this long for running tasks")
	fs.Duration(&f.timeLimit, "time-limit", 0, "default hard time limit of a task (0 = none)")
	fs.Duration(&f.softTimeLimit, "soft-time-limit", 0, "default soft time limit of a task (0 = none)")
	fs.Count(&f.maxTasksPerChild, "max-tasks-per-child", 0, "after this many tasks the worker stops taking messages, lets running tasks finish, restores the messages it holds and re-executes itself with the same arguments (0 = never; the Go worker has no child processes)")
	fs.Count(&f.maxMemoryPerChild, "max-memory-per-child", 0, "when a task ends with the process's resident memory over this many KiB, the worker recycles itself as with --max-tasks-per-child (0 = never)")
	fs.String(&f.autoscale, "autoscale", "", "max,min: grow the pool up to max goroutines while tasks wait, shrink back to min after 30 s without a new task (AUTOSCALE_KEEPALIVE); replaces -c (default: off)")
	fs.Duration(&f.softShutdownTimeout, "soft-shutdown-timeout", 0, "Celery 5.5's soft shutdown: on a cold shutdown (a second SIGINT/SIGTERM, SIGQUIT, or SIGTERM with REMAP_SIGTERM=SIGQUIT) running tasks get this long to finish, then are cancelled and the held messages restored (0 = a cold shutdown exits at once)")
	fs.Duration(&f.visibility, "visibility-timeout", time.Hour, "unacked messages older than this are restored")
	fs.Duration(&f.resultExpires, "result-expires", 24*time.Hour, "how long results are kept (0 = forever)")
	fs.String(&f.acceptContent, "accept-content", "json", "accept_content: comma-separated serializers (json, msgpack, yaml) or content types of the task messages taken; others are rejected with ContentDisallowed (pickle never)")
	fs.Choice(&f.resultSerializer, "result-serializer", "json", []string{"json", "msgpack", "yaml"}, "result_serializer: the format results are stored in (readers must accept it)")
	fs.Bool(&f.resultPersistent, "result-persistent", false, "result_persistent: with --result-backend rpc://, send results as persistent messages (delivery mode 2) instead of transient ones")
	fs.Choice(&f.resultCompression, "result-compression", "", []string{"", "zlib", "gzip", "brotli", "lzma", "xz", "zstd"}, "result_compression (Celery 5.7): compress stored results, with Celery's in-band marker (default none)")
	fs.String(&f.securityCertStore, "security-cert-store", "", "security_cert_store: a directory, glob or file of PEM certificates whose signed (\"auth\") task messages are accepted; use with --accept-content auth (default: none)")
	fs.String(&f.securityKey, "security-key", "", "security_key: the PEM RSA key that signs the messages the worker sends (retries, callbacks, chain steps) when --security-cert-store is set; needs --security-certificate")
	fs.String(&f.securityCertificate, "security-certificate", "", "security_certificate: the PEM certificate of --security-key")
	fs.String(&f.securityDigest, "security-digest", "sha256", "security_digest of signed messages (sha256, sha384, sha512, sha1)")
	fs.Count(&f.maxMessageSize, "max-message-size", worker.DefaultMaxMessageSize, "largest task message taken, in bytes, measured as it arrives and again after decompression; a larger one is rejected with a FAILURE (0 = unlimited)")
	fs.Duration(&f.maxDuration, "max-duration", builtin.DefaultMaxSleep, "longest sleep of tasks.sleep and tasks.sample_task: the worker fails longer ones, serve's API refuses them with 422")
	fs.Count(&f.archiveMaxCount, "archive-max-count", worker.DefaultArchiveMaxCount, "the archive (dead letters: tasks failed for good, unregistered and malformed messages) keeps at most this many entries, the oldest dropped first (0 = no archive); see docs/operations.md")
	fs.Duration(&f.archiveMaxAge, "archive-max-age", worker.DefaultArchiveMaxAge, "archive entries older than this are dropped (0 = no age bound)")
	fs.String(&f.routesFile, "routes", "", "routing file, YAML or TOML (.toml): task_routes for the tasks sent (by the worker; by serve's API too), task_queues for the queues it consumes (topic bindings, broadcast queues; all of them when -Q is not given); see docs/interop.md#routing")
	fs.String(&f.broadcastQueues, "broadcast-queues", "", "comma-separated kombu Broadcast queues to consume besides -Q (as task_queues=[Broadcast(name)]): every worker consuming one runs each of its messages")
	fs.Bool(&f.workerDirect, "worker-direct", false, "worker_direct: also consume <hostname>.dq2, bound to the C.dq2 exchange with the node name, so a client can send to this worker alone")
	fs.Choice(&f.eventSerializer, "event-serializer", "json", []string{"json", "msgpack", "yaml"}, "event_serializer: the format of the events sent (Flower reads json)")
	fs.String(&f.metricsAddr, "metrics-addr", "", "serve the worker's Prometheus metrics on this address at /metrics, e.g. :9808 (default: off; serve also has them at the API's /metrics); see docs/operations.md")
}

// finish checks the parsed worker flags together and derives what
// depends on several of them.
func (f *workerFlags) finish(fs *flagSet) error {
	if f.beat {
		return usagef("-B/--beat is not supported: run `celeriac beat --schedule FILE` beside the worker")
	}
	routes, err := loadRoutes("--routes", f.routesFile)
	if err != nil {
		return err
	}
	f.routes = routes
	queues := splitList(f.queues)
	if routes != nil && len(routes.Queues()) > 0 && !fs.Changed("Q") {
		// As Celery: with task_queues and no -Q, consume every declared queue.
		queues = queues[:0]
		for _, q := range routes.Queues() {
			queues = append(queues, q.Name)
		}
	}
	if bq := splitList(f.broadcastQueues); len(bq) > 0 {
		if routes == nil {
			routes = celery.NewRoutes()
			f.routes = routes
		}
		for _, q := range bq {
			if err := routes.DeclareQueue(celery.QueueSpec{Name: q, ExchangeType: celery.ExchangeFanout}); err != nil {
				return usagef("--broadcast-queues: %w", err)
			}
			if !slices.Contains(queues, q) {
				queues = append(queues, q)
			}
		}
	}
	excluded := splitList(f.excludeQueues)
	f.queueList = slices.DeleteFunc(queues, func(q string) bool { return slices.Contains(excluded, q) })
	if len(f.queueList) == 0 {
		return usagef("-Q/--queues: no queues left to consume")
	}
	if err := checkQueues("-Q/--queues", f.queueList); err != nil {
		return err
	}
	if f.pool == "solo" && !fs.Changed("c") {
		f.concurrency = 1
	}
	if f.disablePrefetch {
		f.prefetch = 1
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"--time-limit", f.timeLimit}, {"--soft-time-limit", f.softTimeLimit}, {"--shutdown-timeout", f.shutdownTimeout}, {"--soft-shutdown-timeout", f.softShutdownTimeout}, {"--visibility-timeout", f.visibility}, {"--result-expires", f.resultExpires}, {"--max-duration", f.maxDuration}, {"--archive-max-age", f.archiveMaxAge}} {
		if d.d < 0 {
			return usagef("%s must not be negative", d.name)
		}
	}
	if f.autoscale != "" {
		var err error
		if f.autoscaleMax, f.autoscaleMin, err = parseAutoscale(f.autoscale); err != nil {
			return usagef("--autoscale: %w", err)
		}
	}
	if f.heartbeat <= 0 {
		return usagef("--heartbeat-interval must be positive")
	}
	if _, err := celery.ParseAccept(splitList(f.acceptContent)); err != nil {
		return usagef("--accept-content: %w", err)
	}
	if _, err := security.Digest(f.securityDigest); err != nil {
		return usagef("--security-digest: %w", err)
	}
	if (f.securityKey == "") != (f.securityCertificate == "") {
		return usagef("--security-key and --security-certificate go together")
	}
	return nil
}

// notes logs what the worker accepts from Celery's flags but does
// differently.
func (f *workerFlags) notes(fs *flagSet, log *slog.Logger) {
	if f.pool != "prefork" {
		log.Info("-P/--pool: tasks run in goroutines whatever the pool", "pool", f.pool, "concurrency", f.concurrency)
	}
	if f.autoscaleMax > 0 && fs.Changed("c") {
		log.Info("--autoscale replaces -c/--concurrency", "max", f.autoscaleMax, "min", f.autoscaleMin)
	}
	if f.withoutHeartbeat {
		log.Info("--without-heartbeat is ignored: worker-heartbeat events are always sent")
	}
}

// concurrencyValue is -c: a count, or Celery's "auto" (the CPU count).
type concurrencyValue struct{ p *int }

func (v *concurrencyValue) Set(s string) error {
	if strings.EqualFold(s, "auto") {
		*v.p = 0
		return nil
	}
	return (&intValue{p: v.p}).Set(s)
}
func (v *concurrencyValue) String() string { return strconv.Itoa(*v.p) }

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
	fs := newFlagSet("worker")
	var f workerFlags
	f.register(fs)
	log, done, err := setup(fs, &f.common, &f.daemon, args, stdout, stderr)
	if err != nil {
		return err
	}
	doneOnce := sync.OnceFunc(done)
	defer doneOnce()
	if err := f.finish(fs); err != nil {
		return err
	}
	f.notes(fs, log)
	var reg *prometheus.Registry
	if f.metricsAddr != "" {
		reg = prometheus.NewRegistry()
		stop, url, err := serveMetrics(f.metricsAddr, reg)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer stop()
		log.Info("metrics", "url", url)
	}
	err = runWorker(ctx, &f, f.brokerURL(), f.backendURL(), log, reg, f.recycleOptions()...)
	if errors.Is(err, worker.ErrRecycle) {
		// Re-executed warm: the worker restored what it held. The pid
		// file and log are released first; the new process takes them.
		log.Warn("re-executing the worker", "reason", err.Error())
		doneOnce()
		return reexec()
	}
	return err
}

// runWorker runs a worker until ctx ends; its metrics go to reg unless it
// is nil.
func runWorker(ctx context.Context, f *workerFlags, brokerURL, backendURL string, log *slog.Logger, reg *prometheus.Registry, extra ...worker.Option) error {
	queues := f.queueList
	prefetch := 0 // AMQP basic.qos: the worker's prefetch window
	if f.prefetch > 0 {
		prefetch = f.concurrency * f.prefetch
	}
	broker, err := newTransport(brokerURL, transportConfig{log: log, prefetch: prefetch, queues: f.declare.defaults(),
		redisOpts: append([]credis.Option{credis.WithVisibilityTimeout(f.visibility)}, f.brokerOptions()...)})
	if err != nil {
		return err
	}
	defer broker.Close()
	if err := checkAuth(ctx, broker, brokerURL); err != nil {
		return err
	}
	log.Info("connecting", "broker", redactURL(brokerURL))
	// Ready only once the broker answers: until then each retry is
	// logged, as Celery's worker does.
	if err := waitForBroker(ctx, broker.Ping, brokerURL, startupRetry, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if f.purge {
		n := 0
		for _, q := range queues {
			m, err := broker.Purge(ctx, q)
			if err != nil {
				return fmt.Errorf("--purge: %w", err)
			}
			n += m
		}
		log.Warn(fmt.Sprintf("purged %d messages from %d queues", n, len(queues)), "queues", queues)
	}
	backendOpts := append([]credis.Option{credis.WithResultExpires(f.resultExpires), credis.WithLogger(log),
		credis.WithResultSerializer(f.resultSerializer), credis.WithResultCompression(f.resultCompression)}, f.backendOptions()...)
	// The broker URL serves results too (a Redis one, its
	// ?global_keyprefix= included; an AMQP one: results disabled).
	backend, err := openBackend(broker, brokerURL, backendURL, log, backendOpts,
		camqp.WithReplyExpires(f.resultExpires), camqp.WithResultPersistent(f.resultPersistent), camqp.WithReplySerializer(f.resultSerializer))
	if err != nil {
		return err
	}
	defer backend.Close()
	mux := worker.NewServeMux()
	bounds := builtin.WithMaxSleep(f.maxDuration)
	builtin.Register(mux, bounds)
	var counter testtasks.Counter = testtasks.NewMemoryCounter()
	if c, ok := broker.(testtasks.Counter); ok {
		counter = c
	}
	testtasks.Register(mux, counter, bounds) // Python's interop tests call them on the binary
	var opts []worker.Option
	if f.securityCertStore != "" {
		store, err := security.LoadStore(f.securityCertStore, f.securityDigest)
		if err != nil {
			return err
		}
		var signer celery.BodySigner
		if f.securityKey != "" {
			s, err := security.LoadSigner(f.securityKey, f.securityCertificate, f.securityDigest)
			if err != nil {
				return err
			}
			signer = s
		} else {
			log.Warn("--security-cert-store without --security-key: retries, callbacks and chain steps are sent unsigned")
		}
		opts = append(opts, worker.WithSecurity(store, signer))
	}
	if reg != nil {
		opts = append(opts, worker.WithRegisterer(reg))
	}
	if f.routes != nil {
		opts = append(opts, worker.WithRoutes(f.routes))
	}
	opts = append(append(opts, f.lifecycleOptions()...), extra...)
	w := worker.New(broker, backend, mux, append(opts,
		worker.WithQueues(queues...),
		worker.WithWorkerDirect(f.workerDirect),
		worker.WithEventSerializer(f.eventSerializer),
		worker.WithConcurrency(f.concurrency),
		worker.WithPrefetchMultiplier(f.prefetch),
		worker.WithAcksLate(f.acksLate),
		worker.WithTrackStarted(f.trackStarted),
		worker.WithResultExtended(f.resultExtended),
		worker.WithAcksOnFailureOrTimeout(f.acksOnFailure),
		worker.WithRejectOnWorkerLost(f.rejectOnWorkerLost),
		worker.WithStoreErrorsEvenIfIgnored(f.storeErrorsIgnored),
		worker.WithHostname(expandNodename(f.nodename)),
		worker.WithLogger(log),
		worker.WithShutdownTimeout(f.shutdownTimeout),
		worker.WithTimeLimits(f.timeLimit, f.softTimeLimit),
		worker.WithEvents(f.events),
		worker.WithPidbox(!f.withoutControl),
		worker.WithHeartbeatInterval(f.heartbeat),
		worker.WithBrokerURL(brokerURL, backendURL),
		worker.WithSweepInterval(sweepInterval(f.visibility)),
		worker.WithMaxMessageSize(f.maxMessageSize),
		worker.WithAcceptContent(splitList(f.acceptContent)...),
		worker.WithArchive(f.archiveMaxCount, f.archiveMaxAge),
	)...)
	log.Info("starting", "tasks", mux.Names())
	// A cold shutdown (a second signal, SIGQUIT) exits at once, leaving
	// unacknowledged messages in Redis for the sweep, or with
	// --soft-shutdown-timeout gives running tasks that long first.
	done := make(chan struct{})
	defer close(done)
	go watchColdSignals(ctx, done, w, f.softShutdownTimeout > 0, log)
	return w.Run(ctx)
}

// sweepInterval is how often the visibility sweep runs: every 100 s (the
// worker's default), or twice per visibility timeout when that is shorter,
// so that a dead worker's messages come back soon after they are due.
func sweepInterval(visibility time.Duration) time.Duration {
	return max(time.Second, min(100*time.Second, visibility/2))
}

// checkAuth pings the broker: a refused password or certificate will not
// get better by retrying, so it is reported in one line, rather than
// retried forever as for an unreachable broker. For rediss:// a TLS probe
// first waits for the alert of a server that wants a client certificate
// (a command written at once could lose it to the connection reset). An
// unreachable broker (a dial error) is left to the worker's reconnecting,
// without delay here.
func checkAuth(ctx context.Context, broker celery.Transport, brokerURL string) error {
	if err := probeTLS(ctx, brokerURL, 300*time.Millisecond); isAuthError(err) {
		return fmt.Errorf("broker %s refused the connection: %w", redactURL(brokerURL), err)
	}
	for try := 0; try < 5; try++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := broker.Ping(pctx)
		cancel()
		if isAuthError(err) {
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
func redactURL(u string) string { return redact.URL(u) }
