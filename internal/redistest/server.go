package redistest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Environment variables understood by this package.
const (
	// EnvServer names the redis-server binary to run instead of the one
	// found on $PATH.
	EnvServer = "CELERIAC_REDIS_SERVER"
	// EnvRequire, when "1" (or "true"), makes Start fail instead of skip
	// when redis-server is missing. CI=true has the same effect.
	EnvRequire = "CELERIAC_REQUIRE_REDIS"
)

// ErrNoRedisServer is wrapped by the error New returns when no
// redis-server binary can be found.
var ErrNoRedisServer = errors.New("redistest: redis-server not found (install redis-server, or set " + EnvServer + ")")

const (
	startTimeout  = 10 * time.Second // until the server answers PING
	stopTimeout   = 10 * time.Second // SIGTERM grace period before SIGKILL
	pollInterval  = 10 * time.Millisecond
	dialTimeout   = 500 * time.Millisecond
	portAttempts  = 5
	logName       = "redis.log"
	logTailBytes  = 8 << 10
	doReadTimeout = 60 * time.Second
)

// Option configures a Server.
type Option func(*config)

type config struct {
	aof      bool
	args     []string
	sentinel string   // "name host:port" of the monitored master
	tls      []string // --tls-* arguments but the port (WithTLS)
}

// WithSentinel runs a Redis Sentinel (redis-server --sentinel) that
// monitors the master at addr under name, instead of a plain server.
func WithSentinel(name, addr string) Option {
	return func(c *config) { c.sentinel = name + " " + addr }
}

// WithAOF turns on the append-only file (appendonly yes), so that data
// survives Restart.
func WithAOF() Option { return func(c *config) { c.aof = true } }

// WithArgs appends extra redis-server command-line arguments, for example
// WithArgs("--maxmemory", "10mb"). They come after the package's own
// arguments and so override them.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Server is a running (or stopped) redis-server process.
type Server struct {
	bin     string
	dir     string
	ownDir  bool // dir was made by New and is removed by Close
	cfg     config
	port    int // fixed for the Server's lifetime, also across Restart
	tlsPort int // WithTLS only; also fixed

	mu     sync.Mutex // guards proc and closed; held across start/stop
	proc   *process   // nil while stopped
	closed bool
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returned
	err  error         // cmd.Wait's result; read only after done is closed
}

// New starts a redis-server in a new temporary directory, which Close
// removes. It is meant for TestMain; tests should use Start.
func New(opts ...Option) (*Server, error) {
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s, err := newServer(bin, dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.ownDir = true
	return s, nil
}

// Start starts a redis-server for the test, in tb.TempDir(), and stops it
// when the test ends. If redis-server is missing it skips the test, or
// fails it when CELERIAC_REQUIRE_REDIS=1 or CI=true.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin, err := findBinary()
	if err != nil {
		if errors.Is(err, ErrNoRedisServer) && !required() {
			tb.Skipf("%v; skipping (set %s=1 to fail instead)", err, EnvRequire)
		}
		tb.Fatalf("%v", err)
	}
	s, err := newServer(bin, tb.TempDir(), opts)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("redistest: tail of %s:\n%s", s.LogPath(), s.logTail())
		}
		if err := s.Close(); err != nil {
			tb.Logf("redistest: %v", err)
		}
	})
	return s
}

func required() bool {
	isTrue := func(v string) bool {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		return err == nil && b
	}
	return isTrue(os.Getenv(EnvRequire)) || isTrue(os.Getenv("CI"))
}

func findBinary() (string, error) {
	if bin := os.Getenv(EnvServer); bin != "" {
		path, err := exec.LookPath(bin)
		if err != nil {
			// Set explicitly but wrong: a configuration error, never a skip.
			return "", fmt.Errorf("redistest: %s=%q: %w", EnvServer, bin, err)
		}
		return path, nil
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoRedisServer, err)
	}
	return path, nil
}

// newServer picks a free port and starts the server, trying another port
// if the chosen one was taken in the meantime.
func newServer(bin, dir string, opts []Option) (*Server, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{bin: bin, dir: dir, cfg: cfg}
	var err error
	for range portAttempts {
		s.port, err = freePort()
		if err == nil && cfg.tls != nil {
			s.tlsPort, err = freePort()
		}
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		err = s.startLocked()
		s.mu.Unlock()
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var errAddrInUse = errors.New("address already in use")

func (s *Server) args() []string {
	if s.cfg.sentinel != "" {
		name, addr, _ := strings.Cut(s.cfg.sentinel, " ")
		host, port, _ := net.SplitHostPort(addr)
		conf := filepath.Join(s.dir, "sentinel.conf")
		// Sentinel rewrites its config file, so it must be writable.
		os.WriteFile(conf, []byte("sentinel monitor "+name+" "+host+" "+port+" 1\n"), 0o644)
		return append([]string{conf, "--sentinel",
			"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--protected-mode", "no",
			"--dir", s.dir, "--daemonize", "no", "--logfile", ""}, s.cfg.args...)
	}
	aof := "no"
	if s.cfg.aof {
		aof = "yes"
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--protected-mode", "no",
		"--save", "",
		"--appendonly", aof,
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "", // log to stdout, which goes to LogPath()
	}
	if s.cfg.tls != nil {
		args = append(append(args, "--tls-port", strconv.Itoa(s.tlsPort)), s.cfg.tls...)
	}
	return append(args, s.cfg.args...)
}

// startLocked starts redis-server and waits until it answers. s.mu must be
// held and s.proc must be nil.
func (s *Server) startLocked() error {
	logf, err := os.OpenFile(s.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	fmt.Fprintf(logf, "=== redistest: starting %s on port %d at %s\n", s.bin, s.port, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	logf.Close() // the child has its own copy
	if err != nil {
		return fmt.Errorf("redistest: starting %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := s.waitReady(p); err != nil {
		stopProcess(p)
		return err
	}
	s.proc = p
	return nil
}

// waitReady polls the server until it answers PING and turns out to be the
// process we started (not another server that grabbed the same port).
func (s *Server) waitReady(p *process) error {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var lastErr error
	for {
		if lastErr = s.probe(p.cmd.Process.Pid); lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
			tail := s.logTail()
			if strings.Contains(tail, "Address already in use") {
				return errAddrInUse
			}
			return fmt.Errorf("redistest: redis-server exited during start-up (%v); log %s:\n%s", p.err, s.LogPath(), tail)
		case <-deadline.C:
			return fmt.Errorf("redistest: redis-server on port %d did not answer PING within %v (last error: %v); log %s:\n%s",
				s.port, startTimeout, lastErr, s.LogPath(), s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) probe(pid int) error {
	c, err := redis.Dial("tcp", s.Addr(),
		redis.DialConnectTimeout(dialTimeout),
		redis.DialReadTimeout(time.Second),
		redis.DialWriteTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := redis.String(c.Do("PING")); err != nil {
		return err // e.g. LOADING while the AOF is read
	}
	info, err := redis.String(c.Do("INFO", "server"))
	if err != nil {
		return err
	}
	want := "process_id:" + strconv.Itoa(pid)
	for line := range strings.Lines(info) {
		if strings.TrimSpace(line) == want {
			return nil
		}
	}
	return fmt.Errorf("%s answered, but it is not the redis-server we started (pid %d)", s.Addr(), pid)
}

// stopProcess sends SIGTERM, waits up to stopTimeout, then sends SIGKILL.
func stopProcess(p *process) error {
	select {
	case <-p.done:
		return nil // already gone
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("redis-server (pid %d) ignored SIGTERM for %v and was killed", p.cmd.Process.Pid, stopTimeout)
	}
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// TLSPort returns the TLS port of a server started WithTLS (else 0).
func (s *Server) TLSPort() int { return s.tlsPort }

// Port returns the TCP port, which stays the same across Restart.
func (s *Server) Port() int { return s.port }

// URL returns "redis://127.0.0.1:port/db".
func (s *Server) URL(db int) string { return fmt.Sprintf("redis://%s/%d", s.Addr(), db) }

// Dir returns the server's working directory (AOF files, log).
func (s *Server) Dir() string { return s.dir }

// LogPath returns the path of the file that receives redis-server's log
// (and its stdout/stderr), appended to across restarts.
func (s *Server) LogPath() string { return filepath.Join(s.dir, logName) }

func (s *Server) logTail() string {
	f, err := os.Open(s.LogPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > logTailBytes {
		_, _ = f.Seek(-logTailBytes, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// Stop stops the server (SIGTERM, then SIGKILL after a grace period). It
// does nothing if the server is not running. Restart starts it again.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() error {
	p := s.proc
	s.proc = nil
	if p == nil {
		return nil
	}
	return stopProcess(p)
}

// Restart stops the server if it is running and starts it again on the same
// port, with the same directory and options, and waits until it answers.
// Without WithAOF the data is gone afterwards.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		tb.Fatalf("redistest: Restart after Close")
	}
	if err := s.stopLocked(); err != nil {
		tb.Logf("redistest: %v", err)
	}
	if err := s.startLocked(); err != nil {
		tb.Fatalf("redistest: restart on port %d: %v", s.port, err)
	}
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.done:
		return false
	default:
		return true
	}
}

// Close stops the server and, for a Server made by New, removes its
// directory. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.stopLocked()
	if s.ownDir {
		err = errors.Join(err, os.RemoveAll(s.dir))
	}
	return err
}

// FlushAll runs FLUSHALL.
func (s *Server) FlushAll(tb testing.TB) {
	tb.Helper()
	s.Do(tb, "FLUSHALL")
}

// Do runs one command on a new connection and returns the reply as redigo
// returns it: int64, []byte (bulk string), string (status such as "OK"),
// []any (array) or nil. An error, including an error reply, fails the test.
// Convert with redigo's helpers, e.g. redis.Int64(srv.Do(t, "LLEN", "q"), nil).
func (s *Server) Do(tb testing.TB, cmd string, args ...any) any {
	tb.Helper()
	c, err := s.dial()
	if err != nil {
		tb.Fatalf("redistest: dial %s: %v", s.Addr(), err)
	}
	defer c.Close()
	reply, err := c.Do(cmd, args...)
	if err != nil {
		tb.Fatalf("redistest: %s %v: %v", cmd, args, err)
	}
	return reply
}

// Dial opens a redigo connection to the server, closed when the test ends
// (closing it earlier is fine). A dial error fails the test.
func (s *Server) Dial(tb testing.TB) redis.Conn {
	tb.Helper()
	c, err := s.dial()
	if err != nil {
		tb.Fatalf("redistest: dial %s: %v", s.Addr(), err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) dial() (redis.Conn, error) {
	return redis.Dial("tcp", s.Addr(),
		redis.DialConnectTimeout(5*time.Second),
		redis.DialReadTimeout(doReadTimeout),
		redis.DialWriteTimeout(10*time.Second))
}

// Usage is what the server spent since its statistics were last reset
// (ResetUsage): CPU time (INFO cpu, user + system, whose counters are not
// reset: Usage reports the change since ResetUsage) and commands run (INFO
// commandstats; a command inside a script or a MULTI counts once).
type Usage struct {
	CPU   time.Duration
	Calls int64
}

// ResetUsage resets the command counters and returns the usage so far, to
// subtract from a later call of UsageSince.
func (s *Server) ResetUsage(tb testing.TB) Usage {
	tb.Helper()
	s.Do(tb, "CONFIG", "RESETSTAT")
	return s.UsageSince(tb, Usage{})
}

// UsageSince returns the usage since start (ResetUsage's value).
func (s *Server) UsageSince(tb testing.TB, start Usage) Usage {
	tb.Helper()
	var u Usage
	for _, section := range []string{"cpu", "commandstats"} {
		info, _ := s.Do(tb, "INFO", section).([]byte)
		for line := range strings.SplitSeq(string(info), "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			switch {
			case k == "used_cpu_sys" || k == "used_cpu_user":
				f, _ := strconv.ParseFloat(v, 64)
				u.CPU += time.Duration(f * float64(time.Second))
			case strings.HasPrefix(k, "cmdstat_"):
				for kv := range strings.SplitSeq(v, ",") {
					if n, ok := strings.CutPrefix(kv, "calls="); ok {
						c, _ := strconv.ParseInt(n, 10, 64)
						u.Calls += c
					}
				}
			}
		}
	}
	u.CPU -= start.CPU
	return u
}
