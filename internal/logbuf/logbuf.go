// Package logbuf is a buffer that a logger writes and a test reads at the
// same time, for tests that check what a component logged.
package logbuf

import (
	"strings"
	"sync"
)

// Buffer collects writes; its zero value is ready to use, and its methods
// may be called from several goroutines.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
