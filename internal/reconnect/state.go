package reconnect

import (
	"log/slog"
	"sync"
	"time"
)

// State tracks whether one component's broker connection works and logs
// its changes: one warning when it is lost and one line when it is back,
// however many retries fail in between. The zero value is ready to use
// with slog.Default(); set Name and Logger before first use.
type State struct {
	// Name is the component, e.g. "broker" or "remote control"; lines read
	// "<Name> connection lost" and "<Name> connection restored".
	Name   string
	Logger *slog.Logger

	mu    sync.Mutex
	down  bool
	since time.Time
}

func (s *State) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Lost records a failure; it logs err and reports true only when the
// connection was up until now.
func (s *State) Lost(err error, attrs ...any) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return false
	}
	s.down, s.since = true, time.Now()
	s.logger().Warn(s.Name+" connection lost; retrying", append(attrs, "error", err)...)
	return true
}

// Up records a success; it logs and reports true only when the connection
// was down until now.
func (s *State) Up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return false
	}
	s.down = false
	s.logger().Info(s.Name+" connection restored", "down_for", time.Since(s.since).Round(time.Millisecond))
	return true
}

// Down reports whether the connection is down.
func (s *State) Down() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}
