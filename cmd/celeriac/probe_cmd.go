package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// cmdProbe is `celeriac probe URL`: a healthcheck for images without a
// shell or an HTTP client (the distroless image of compose/Dockerfile).
func cmdProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe")
	fs.synopsis = "celeriac probe <URL> [flags]"
	var timeout time.Duration
	fs.Duration(&timeout, "t timeout", 3*time.Second, "give up after this long")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one URL, got %d arguments", fs.NArg())
	}
	if timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fs.Arg(0), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", fs.Arg(0), resp.Status)
	}
	return nil
}
