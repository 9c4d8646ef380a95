package pypeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables. EnvPython is read by this package; the others are
// read by integration/pyapp/tasks.py (the worker options set them).
const (
	// EnvPython overrides the interpreter (default <repo>/.venv/bin/python).
	EnvPython = "CELERIAC_PYTHON"

	EnvBrokerURL          = "CELERY_BROKER_URL"
	EnvResultBackend      = "CELERY_RESULT_BACKEND"
	EnvAcksLate           = "CELERIAC_ACKS_LATE"
	EnvTrackStarted       = "CELERIAC_TRACK_STARTED"
	EnvVisibilityTimeout  = "CELERIAC_VISIBILITY_TIMEOUT"
	EnvPrefetchMultiplier = "CELERIAC_PREFETCH_MULTIPLIER"
)

const (
	defaultRunTimeout = 120 * time.Second
	waitDelay         = 5 * time.Second // after the process exits, for its pipes
	venvHint          = "run `make venv` (or make test) to create .venv with the pinned Celery"
	pyappRel          = "integration/pyapp"
	missingModule     = "No module named"
)

// RepoRoot returns the directory holding go.mod, found by walking up from
// the working directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := repoRoot()
	if err != nil {
		tb.Fatalf("pypeer: %v", err)
	}
	return root
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or any parent")
		}
		dir = parent
	}
}

// PyAppDir returns <repo>/integration/pyapp, the directory holding tasks.py
// and client.py.
func PyAppDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(RepoRoot(tb), filepath.FromSlash(pyappRel))
}

// interpreter returns the Python to use without running it; a missing
// interpreter fails the test (never skips it).
func interpreter(tb testing.TB) string {
	tb.Helper()
	py := os.Getenv(EnvPython)
	if py == "" {
		py = filepath.Join(RepoRoot(tb), ".venv", "bin", "python")
	}
	path, err := exec.LookPath(py)
	if err != nil {
		tb.Fatalf("pypeer: no Python interpreter at %s (%v): %s, or set %s", py, err, venvHint, EnvPython)
	}
	return path
}

// Python returns the interpreter path ($CELERIAC_PYTHON, or
// <repo>/.venv/bin/python) after checking that it can import celery. If it
// cannot, the test fails (it is never skipped).
func Python(tb testing.TB) string {
	tb.Helper()
	py := interpreter(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", "import celery").CombinedOutput()
	if err != nil {
		tb.Fatalf("pypeer: %s cannot import celery (%v): %s\n%s", py, err, venvHint, out)
	}
	return py
}

// env returns the environment for a Python peer: the test process's
// environment minus any inherited CELERY_* / CELERIAC_* variables (so
// the peers only see what the test chose), plus the broker and backend
// URLs, then extra ("KEY=value"; later entries win).
func env(brokerURL, resultBackend string, extra []string) []string {
	var e []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CELERY_") || strings.HasPrefix(kv, "CELERIAC_") {
			continue
		}
		e = append(e, kv)
	}
	if resultBackend == "" {
		resultBackend = brokerURL
	}
	e = append(e,
		EnvBrokerURL+"="+brokerURL,
		EnvResultBackend+"="+resultBackend,
		"PYTHONUNBUFFERED=1",
		"PYTHONDONTWRITEBYTECODE=1",
	)
	return append(e, extra...)
}

// killGroup sends sig to the process group led by pid.
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}

// Cmd runs a script from integration/pyapp with the Python peer
// environment. The zero value of each field is a sensible default except
// BrokerURL, which is required.
type Cmd struct {
	BrokerURL     string
	ResultBackend string        // default: BrokerURL
	Env           []string      // extra "KEY=value" entries
	Stdin         []byte        // standard input; none if nil
	Timeout       time.Duration // default 120 s; the process group is killed after it
}

// Output runs `python <pyapp>/<script> args...` (cwd integration/pyapp)
// and returns its stdout and stderr and the error from running it (an
// *exec.ExitError for a non-zero exit, or a timeout error). Only a missing
// interpreter fails the test.
func (c Cmd) Output(tb testing.TB, script string, args ...string) (stdout, stderr []byte, err error) {
	tb.Helper()
	py := interpreter(tb)
	dir := PyAppDir(tb)
	if !filepath.IsAbs(script) {
		script = filepath.Join(dir, script)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = defaultRunTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, py, append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = env(c.BrokerURL, c.ResultBackend, c.Env)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout = &outBuf
	cmd.Stderr = &errBuf
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid, syscall.SIGKILL)
		return nil
	}
	cmd.WaitDelay = waitDelay
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, ctx.Err())
	}
	return outBuf.Bytes(), errBuf.Bytes(), err
}

// Run runs the script like Output and returns its stdout; a non-zero exit
// or a timeout fails the test, showing stderr.
func (c Cmd) Run(tb testing.TB, script string, args ...string) []byte {
	tb.Helper()
	stdout, stderr, err := c.Output(tb, script, args...)
	if err != nil {
		hint := ""
		if bytes.Contains(stderr, []byte(missingModule)) {
			hint = "\n" + venvHint
		}
		tb.Fatalf("pypeer: python %s %s: %v%s\nstderr:\n%s\nstdout:\n%s",
			script, strings.Join(args, " "), err, hint, stderr, stdout)
	}
	return stdout
}

// RunJSON runs the script like Run and decodes its stdout as JSON into out.
func (c Cmd) RunJSON(tb testing.TB, out any, script string, args ...string) {
	tb.Helper()
	stdout := c.Run(tb, script, args...)
	if err := json.Unmarshal(stdout, out); err != nil {
		tb.Fatalf("pypeer: python %s %s: decoding stdout as JSON: %v\nstdout:\n%s",
			script, strings.Join(args, " "), err, stdout)
	}
}

// Run runs `python <integration/pyapp/script> args...` with
// CELERY_BROKER_URL and CELERY_RESULT_BACKEND set to brokerURL and returns
// its stdout. A non-zero exit, or a run longer than 120 s, fails the test.
func Run(tb testing.TB, brokerURL, script string, args ...string) []byte {
	tb.Helper()
	return Cmd{BrokerURL: brokerURL}.Run(tb, script, args...)
}

// RunJSON is Run followed by json.Unmarshal of stdout into out.
func RunJSON(tb testing.TB, brokerURL string, out any, script string, args ...string) {
	tb.Helper()
	Cmd{BrokerURL: brokerURL}.RunJSON(tb, out, script, args...)
}
