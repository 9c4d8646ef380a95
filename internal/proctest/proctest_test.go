package proctest

import (
	"os/exec"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStartWaitLogStop: the output is captured, WaitLog sees a line, and
// Cleanup stops a process that ignores nothing (SIGTERM ends sleep).
func TestStartWaitLogStop(t *testing.T) {
	var p *Proc
	t.Run("run", func(t *testing.T) {
		p = Start(t, exec.Command("sh", "-c", "echo ready; exec sleep 30"), "sh", 5*time.Second)
		p.WaitLog(t, "ready", 5*time.Second)
	})
	select {
	case <-p.Done():
	default:
		t.Fatal("the process still runs after its test's Cleanup")
	}
	if p.Log() != "ready\n" {
		t.Errorf("Log() = %q", p.Log())
	}
}
