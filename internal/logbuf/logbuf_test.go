package logbuf

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWritesAndReads(t *testing.T) {
	var b Buffer
	log := slog.New(slog.NewTextHandler(&b, nil))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				log.Info("line", "writer", i, "n", j)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "msg=line"); n != 400 {
		t.Errorf("%d lines, want 400", n)
	}
}

func ExampleBuffer() {
	var b Buffer
	fmt.Fprint(&b, "hello")
	fmt.Println(b.String())
	// Output: hello
}
