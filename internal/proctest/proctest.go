// Package proctest runs a program as a test's subprocess: its output
// captured, waited on for a line, stopped (SIGTERM, then SIGKILL) at the
// test's Cleanup, and printed when the test failed. The integration tests
// start celeriac, Flower and other peers with it.
package proctest

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a running subprocess.
type Proc struct {
	// Cmd is the started command (Cmd.Process.Pid, Cmd.Process.Kill).
	Cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// Start starts cmd with its output captured. At Cleanup it sends SIGTERM,
// waits up to stopWait, then kills it, and logs its output under label if
// the test failed. The process is killed too if the test binary dies
// (Pdeathsig).
func Start(t testing.TB, cmd *exec.Cmd, label string, stopWait time.Duration) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if !p.Wait(stopWait) {
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", label, p.Log())
		}
	})
	return p
}

// Write appends to the captured output (the process' stdout and stderr).
func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Log returns what the process printed so far.
func (p *Proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { p.Cmd.Process.Signal(sig) }

// Wait waits for exit (at most d) and reports whether it exited.
func (p *Proc) Wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// WaitLog waits until the output contains s; the test fails if it does
// not within d or the process exits first.
func (p *Proc) WaitLog(t testing.TB, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.Log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output within %v:\n%s", s, d, p.Log())
		}
		select {
		case <-p.done:
			t.Fatalf("exited before printing %q:\n%s", s, p.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
