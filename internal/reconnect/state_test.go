package reconnect

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestStateLogsChangesOnly(t *testing.T) {
	var buf bytes.Buffer
	s := &State{Name: "broker", Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	if s.Up() {
		t.Error("Up on a fresh state reported a change")
	}
	if !s.Lost(errors.New("refused")) || s.Lost(errors.New("refused")) || s.Lost(errors.New("refused")) {
		t.Error("Lost should report the first failure only")
	}
	if !s.Down() {
		t.Error("not down after Lost")
	}
	if !s.Up() || s.Up() {
		t.Error("Up should report the first success only")
	}
	out := buf.String()
	if strings.Count(out, "broker connection lost; retrying") != 1 || strings.Count(out, "broker connection restored") != 1 || strings.Count(out, "\n") != 2 {
		t.Errorf("log:\n%s", out)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for attempt, hi := range []time.Duration{10, 20, 40, 80, 80, 80} {
		hi *= time.Millisecond
		for range 20 {
			if d := b.Delay(attempt); d < hi/2 || d > hi {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", attempt, d, hi/2, hi)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond, nil) {
		t.Error("Sleep with a live context reported false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour, nil) {
		t.Error("Sleep with an ended context reported true")
	}
	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	if !Sleep(context.Background(), time.Hour, wake) {
		t.Error("Sleep cut short by wake reported false")
	}
}
