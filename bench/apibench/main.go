// Command apibench is a closed-loop HTTP load generator for bench/api.sh:
// -c connections each send GET -url back to back for -d, then it prints
// one line: "<label> <req/s> <p50 ms> <p99 ms> <errors>".
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to GET")
	conns := flag.Int("c", 64, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warm := flag.Duration("warmup", 2*time.Second, "unmeasured warm-up")
	label := flag.String("label", "run", "first field of the output line")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "apibench: -url is required")
		os.Exit(2)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	run := func(d time.Duration, record bool) ([]time.Duration, int64, int64) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var mu sync.Mutex
		var all []time.Duration
		var ok, errs atomic.Int64
		var wg sync.WaitGroup
		for range *conns {
			wg.Go(func() {
				lat := make([]time.Duration, 0, 4096)
				for ctx.Err() == nil {
					start := time.Now()
					resp, err := client.Get(*url)
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					if err != nil || resp.StatusCode != 200 {
						if ctx.Err() == nil {
							errs.Add(1)
						}
						continue
					}
					ok.Add(1)
					if record {
						lat = append(lat, time.Since(start))
					}
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return all, ok.Load(), errs.Load()
	}
	run(*warm, false)
	lat, ok, errs := run(*dur, true)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	fmt.Printf("%s %.0f %.2f %.2f %d\n", *label, float64(ok)/dur.Seconds(), pct(0.50), pct(0.99), errs)
}
