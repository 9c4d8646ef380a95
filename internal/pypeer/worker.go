package pypeer

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout = 60 * time.Second // until the worker logs "<node> ready."
	stopTimeout  = 15 * time.Second // warm-shutdown grace period before SIGKILL
	logDumpBytes = 64 << 10         // how much of the log a failing test shows
)

// readyRE matches Celery's "celery@host ready." (logged once the worker
// consumes).
var readyRE = regexp.MustCompile(`\S+@\S* ready\.`)

// WorkerOption configures StartWorker.
type WorkerOption func(*workerConfig)

type workerConfig struct {
	queues        []string
	concurrency   int
	pool          string
	nodeName      string
	prefetch      int
	acksLate      bool
	trackStarted  bool
	visibility    time.Duration
	events        bool
	resultBackend string
	env           []string
	args          []string
}

// WithQueues sets the queues to consume from (-Q q1,q2). Default: Celery's
// default queue, "celery".
func WithQueues(queues ...string) WorkerOption {
	return func(c *workerConfig) { c.queues = append(c.queues, queues...) }
}

// WithConcurrency sets -c (default 1).
func WithConcurrency(n int) WorkerOption { return func(c *workerConfig) { c.concurrency = n } }

// WithPool sets -P: "solo" (default), "prefork" or "threads".
func WithPool(pool string) WorkerOption { return func(c *workerConfig) { c.pool = pool } }

// WithNodeName sets -n. "%h" is replaced by the host name here, and a name
// without "@" gets "@<host>" appended, as Celery does, so that
// Worker.NodeName returns what Celery reports. Default: "py-<random>@%h".
func WithNodeName(name string) WorkerOption { return func(c *workerConfig) { c.nodeName = name } }

// WithPrefetchMultiplier sets worker_prefetch_multiplier (via
// CELERIAC_PREFETCH_MULTIPLIER).
func WithPrefetchMultiplier(n int) WorkerOption { return func(c *workerConfig) { c.prefetch = n } }

// WithAcksLate sets task_acks_late (via CELERIAC_ACKS_LATE=1).
func WithAcksLate() WorkerOption { return func(c *workerConfig) { c.acksLate = true } }

// WithTrackStarted sets task_track_started (via CELERIAC_TRACK_STARTED=1).
func WithTrackStarted() WorkerOption { return func(c *workerConfig) { c.trackStarted = true } }

// WithVisibilityTimeout sets the Redis transport's visibility_timeout (via
// CELERIAC_VISIBILITY_TIMEOUT).
func WithVisibilityTimeout(d time.Duration) WorkerOption {
	return func(c *workerConfig) { c.visibility = d }
}

// WithEvents turns on task events (-E).
func WithEvents() WorkerOption { return func(c *workerConfig) { c.events = true } }

// WithResultBackend sets CELERY_RESULT_BACKEND (default: the broker URL).
func WithResultBackend(url string) WorkerOption {
	return func(c *workerConfig) { c.resultBackend = url }
}

// WithEnv adds "KEY=value" environment entries (they win over the
// package's own).
func WithEnv(kv ...string) WorkerOption {
	return func(c *workerConfig) { c.env = append(c.env, kv...) }
}

// WithArgs appends extra `celery worker` arguments, e.g.
// WithArgs("--without-mingle", "--without-gossip").
func WithArgs(args ...string) WorkerOption {
	return func(c *workerConfig) { c.args = append(c.args, args...) }
}

// Worker is a running `celery -A tasks worker` process.
type Worker struct {
	cmd      *exec.Cmd
	nodeName string
	log      *logWriter
	done     chan struct{} // closed when the process has exited and been reaped
	waitErr  error         // cmd.Wait's result; read only after done is closed

	mu      sync.Mutex // serialises Stop and Kill
	stopped bool
	stopErr error
}

// StartWorker starts a Python Celery worker for integration/pyapp/tasks.py
// consuming from brokerURL, waits (up to 60 s) until it logs "ready.", and
// registers a cleanup that stops it (SIGTERM, then SIGKILL of its process
// group after 15 s) and, if the test failed, logs its output.
func StartWorker(tb testing.TB, brokerURL string, opts ...WorkerOption) *Worker {
	tb.Helper()
	cfg := workerConfig{concurrency: 1, pool: "solo"}
	for _, o := range opts {
		o(&cfg)
	}
	py := Python(tb)
	host, err := os.Hostname()
	if err != nil {
		tb.Fatalf("pypeer: %v", err)
	}
	suffix := strings.ToLower(rand.Text()[:8])
	if cfg.nodeName == "" {
		cfg.nodeName = "py-" + suffix + "@%h"
	}
	node := strings.ReplaceAll(cfg.nodeName, "%h", host)
	if !strings.Contains(node, "@") {
		node += "@" + host
	}

	args := []string{"-m", "celery", "-A", "tasks", "worker",
		"--loglevel=INFO",
		"-P", cfg.pool,
		"-c", strconv.Itoa(cfg.concurrency),
		"-n", node,
	}
	if len(cfg.queues) > 0 {
		args = append(args, "-Q", strings.Join(cfg.queues, ","))
	}
	if cfg.events {
		args = append(args, "-E")
	}
	args = append(args, cfg.args...)

	var extra []string
	if cfg.acksLate {
		extra = append(extra, EnvAcksLate+"=1")
	}
	if cfg.trackStarted {
		extra = append(extra, EnvTrackStarted+"=1")
	}
	if cfg.prefetch > 0 {
		extra = append(extra, EnvPrefetchMultiplier+"="+strconv.Itoa(cfg.prefetch))
	}
	if cfg.visibility > 0 {
		extra = append(extra, EnvVisibilityTimeout+"="+strconv.FormatFloat(cfg.visibility.Seconds(), 'f', -1, 64))
	}
	extra = append(extra, cfg.env...)

	logPath := filepath.Join(tb.TempDir(), "worker-"+suffix+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		tb.Fatalf("pypeer: %v", err)
	}
	lw := &logWriter{file: logFile, path: logPath, ready: make(chan struct{}), changed: make(chan struct{})}
	fmt.Fprintf(lw, "=== pypeer: %s %s\n", py, strings.Join(args, " "))

	cmd := exec.Command(py, args...)
	cmd.Dir = PyAppDir(tb)
	cmd.Env = env(brokerURL, cfg.resultBackend, extra)
	cmd.Stdout = lw // the same writer for both: one pipe, one copying goroutine
	cmd.Stderr = lw
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		logFile.Close()
		tb.Fatalf("pypeer: starting worker: %v", err)
	}
	w := &Worker{cmd: cmd, nodeName: node, log: lw, done: make(chan struct{})}
	go func() {
		w.waitErr = cmd.Wait()
		lw.close()
		close(w.done)
	}()
	tb.Cleanup(func() {
		if err := w.Stop(); err != nil {
			tb.Logf("pypeer: stopping worker %s: %v", w.nodeName, err)
		}
		if tb.Failed() {
			tb.Logf("pypeer: worker %s log (%s):\n%s", w.nodeName, logPath, w.log.tail(logDumpBytes))
		}
	})

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-lw.ready:
		return w
	case <-w.done:
		hint := ""
		if strings.Contains(w.Log(), missingModule) {
			hint = "\n" + venvHint
		}
		tb.Fatalf("pypeer: worker %s exited before it was ready (%v)%s\n%s", node, w.waitErr, hint, w.log.tail(logDumpBytes))
	case <-timer.C:
		tb.Fatalf("pypeer: worker %s not ready after %v\n%s", node, readyTimeout, w.log.tail(logDumpBytes))
	}
	return nil // not reached
}

// NodeName returns the worker's node name, e.g. "py-ab12cd34@myhost".
func (w *Worker) NodeName() string { return w.nodeName }

// PID returns the worker's main process id (also its process group id).
func (w *Worker) PID() int { return w.cmd.Process.Pid }

// Log returns everything the worker has written to stdout and stderr so far.
func (w *Worker) Log() string { return w.log.String() }

// WaitLog waits until the worker's output contains substr, failing the test
// if the worker exits first or timeout passes. It returns the log so far.
func (w *Worker) WaitLog(tb testing.TB, substr string, timeout time.Duration) string {
	tb.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		log, changed := w.log.snapshot()
		if strings.Contains(log, substr) {
			return log
		}
		select {
		case <-changed:
		case <-w.done:
			if log := w.Log(); strings.Contains(log, substr) {
				return log
			}
			tb.Fatalf("pypeer: worker %s exited before logging %q\n%s", w.nodeName, substr, w.log.tail(logDumpBytes))
		case <-timer.C:
			tb.Fatalf("pypeer: worker %s did not log %q within %v\n%s", w.nodeName, substr, timeout, w.log.tail(logDumpBytes))
		}
	}
}

// LogPath returns the file the worker's output is written to.
func (w *Worker) LogPath() string { return w.log.path }

// Done is closed once the worker process has exited.
func (w *Worker) Done() <-chan struct{} { return w.done }

// Stop shuts the worker down warmly: SIGTERM to the main process (Celery
// finishes the running tasks), then, if it has not exited within 15 s,
// SIGKILL to its whole process group. Any processes left in the group are
// killed afterwards. It returns nil after a clean exit, and is idempotent.
func (w *Worker) Stop() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return w.stopErr
	}
	w.stopped = true
	pid := w.cmd.Process.Pid
	select {
	case <-w.done:
		w.stopErr = w.exitErr()
	default:
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-w.done:
			w.stopErr = w.exitErr()
		case <-t.C:
			killGroup(pid, syscall.SIGKILL)
			<-w.done
			w.stopErr = fmt.Errorf("no exit within %v of SIGTERM; killed", stopTimeout)
		}
	}
	killGroup(pid, syscall.SIGKILL) // stragglers, e.g. orphaned pool processes
	return w.stopErr
}

// Kill sends SIGKILL to the worker's whole process group (main process and
// pool children), as in a crash, and waits for the main process to exit.
// Unacknowledged messages stay unacknowledged. Stop after Kill returns nil.
func (w *Worker) Kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	select {
	case <-w.done:
		return
	default:
	}
	killGroup(w.cmd.Process.Pid, syscall.SIGKILL)
	<-w.done
}

func (w *Worker) exitErr() error {
	if w.waitErr != nil {
		return fmt.Errorf("worker exited: %w", w.waitErr)
	}
	return nil
}

// logWriter receives the worker's output: it keeps it in memory, copies it
// to a file and closes ready when Celery's "ready." line appears.
type logWriter struct {
	path  string
	ready chan struct{}

	mu        sync.Mutex
	file      *os.File      // nil once closed
	changed   chan struct{} // closed and replaced on every Write
	buf       bytes.Buffer
	scanned   int // bytes of buf already searched for the ready line
	readySeen bool
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		_, _ = l.file.Write(p)
	}
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	if !l.readySeen {
		// Search only the new bytes plus a margin for a line split across writes.
		from := max(0, l.scanned-256)
		if readyRE.Match(l.buf.Bytes()[from:]) {
			l.readySeen = true
			close(l.ready)
		}
		l.scanned = l.buf.Len()
	}
	return len(p), nil
}

func (l *logWriter) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
}

func (l *logWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// snapshot returns the log so far and a channel closed at the next Write.
func (l *logWriter) snapshot() (string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String(), l.changed
}

func (l *logWriter) tail(n int) string {
	s := l.String()
	if len(s) > n {
		return "[...]\n" + s[len(s)-n:]
	}
	return s
}
