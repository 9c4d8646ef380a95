// Command apibench is a closed-loop HTTP load generator for bench/run.sh:
// -c connections each send GET -url (or POST -body, with -method POST)
// back to back for -d; any 2xx answer counts. Then it prints one JSON
// line for bench/gendoc: {"kind":"api","impl":-label,"route":-route,
// "rps":..,"p50_ms":..,"p99_ms":..,"errors":..}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to GET")
	conns := flag.Int("c", 64, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warm := flag.Duration("warmup", 2*time.Second, "unmeasured warm-up")
	label := flag.String("label", "run", "impl field of the record")
	route := flag.String("route", "", "route field of the record")
	method := flag.String("method", "GET", "GET or POST")
	body := flag.String("body", "", "JSON request body (POST)")
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
					var resp *http.Response
					var err error
					if *method == "POST" {
						resp, err = client.Post(*url, "application/json", strings.NewReader(*body))
					} else {
						resp, err = client.Get(*url)
					}
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					if err != nil || resp.StatusCode/100 != 2 {
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
	rec, _ := json.Marshal(map[string]any{
		"kind": "api", "impl": *label, "route": *route, "conns": *conns,
		"rps": float64(ok) / dur.Seconds(), "p50_ms": pct(0.50), "p99_ms": pct(0.99), "errors": errs,
	})
	fmt.Println(string(rec))
}
