// Command gendoc writes docs/performance.md from the records of one
// `make bench` run (bench/results/*.jsonl, one JSON object per line, written
// by bench/run.sh and the bench tools): tables of the run's numbers, the
// ratios to the peers measured in the same run, whether each target is
// met, and fixed prose around them. It also prints the target summary.
//
//	go run ./bench/gendoc -results bench/results -out docs/performance.md
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

type rec map[string]any

func (r rec) s(k string) string { v, _ := r[k].(string); return v }
func (r rec) f(k string) float64 {
	v, _ := r[k].(float64)
	return v
}
func (r rec) i(k string) int  { return int(r.f(k)) }
func (r rec) b(k string) bool { v, _ := r[k].(bool); return v }
func (r rec) m(k string) rec  { v, _ := r[k].(map[string]any); return v }

type results []rec

func (rs results) where(pred func(rec) bool) results {
	var out results
	for _, r := range rs {
		if pred(r) {
			out = append(out, r)
		}
	}
	return out
}

func (rs results) first(pred func(rec) bool) rec {
	for _, r := range rs {
		if pred(r) {
			return r
		}
	}
	return nil
}

func load(dir string) (results, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	var rs results
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var r rec
			if err := json.Unmarshal(line, &r); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			rs = append(rs, r)
		}
	}
	return rs, nil
}

func main() {
	dir := flag.String("results", "bench/results", "directory of *.jsonl records")
	out := flag.String("out", "docs/performance.md", "Markdown file to write")
	flag.Parse()
	rs, err := load(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
	doc, summary := render(rs)
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
	fmt.Print(summary)
}

// num formats n with thousands separators and no decimals (or d decimals).
func num(n float64, d int) string {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return "—"
	}
	s := fmt.Sprintf("%.*f", d, n)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	res := b.String()
	if neg {
		res = "-" + res
	}
	if frac != "" {
		res += "." + frac
	}
	return res
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "—"
	}
	r := a / b
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.1f×", r)
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// msDelta formats a latency difference with its sign.
func msDelta(v float64) string {
	if v < 0 {
		return "−" + ms(-v)
	}
	return "+" + ms(v)
}

// latMedian returns, for the latency records of impl with events on or
// off, the median over rounds of each percentile of the distribution
// under key (start_ms or result_ms), and the largest max; nil when there
// is none.
func latMedian(lats results, impl string, events bool, key string) rec {
	var dists []rec
	for _, r := range lats {
		if r.s("impl") == impl && r.b("events") == events && r.m(key) != nil {
			dists = append(dists, r.m(key))
		}
	}
	if len(dists) == 0 {
		return nil
	}
	out := rec{}
	for _, p := range []string{"p50", "p90", "p99", "p999"} {
		vs := make([]float64, len(dists))
		for i, m := range dists {
			vs[i] = m.f(p)
		}
		out[p] = median(vs)
	}
	top := 0.0
	for _, m := range dists {
		top = max(top, m.f("max"))
	}
	out["max"] = top
	return out
}

func median(vs []float64) float64 {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

func yes(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

type doc struct {
	strings.Builder
}

func (d *doc) p(format string, args ...any) { fmt.Fprintf(d, format+"\n", args...) }

// target records a target row for the summary table.
type target struct{ what, measured, goal, status string }

func render(rs results) (string, string) {
	var d doc
	meta := rs.first(func(r rec) bool { return r.s("kind") == "meta" })
	if meta == nil {
		meta = rec{}
	}
	kind := func(k string) results { return rs.where(func(r rec) bool { return r.s("kind") == k }) }
	drains, pubs, lats, mems, apis, micros, rbs := kind("drain"), kind("publish"), kind("latency"), kind("memory"), kind("api"), kind("micro"), kind("redis")
	goC := 8
	drainOf := func(impl string, conc, procs int, events bool) rec {
		return drains.first(func(r rec) bool {
			p := max(r.i("procs"), 1)
			return r.s("impl") == impl && (conc < 0 || r.i("conc") == conc) && p == procs && r.b("events") == events
		})
	}
	// asynqBest is the fastest asynq drain at concurrency conc (any when
	// conc < 0), over its queue settings: asynq is compared at its best.
	asynqBest := func(conc int) rec {
		var best rec
		for _, r := range drains.where(func(r rec) bool { return r.s("impl") == "asynq" && (conc < 0 || r.i("conc") == conc) }) {
			if best == nil || r.f("rate") > best.f("rate") {
				best = r
			}
		}
		return best
	}
	var targets []target

	d.p("# Performance")
	d.p("")
	d.p("<!-- Generated by `make bench` (bench/run.sh → bench/gendoc) from the run's bench/results/*.jsonl. Edit bench/gendoc/main.go, not this file. -->")
	d.p("")
	d.p("Every number on this page comes from one `make bench` run, in which celeriac and its peers ran one after another against **the same private redis-server**, on the same machine. Ratios are between rates measured in that run. Nothing here is a timed assertion in a test.")
	d.p("")
	d.p("Run: %s, commit `%s`, %d CPUs (%s), redis-server %s, %s, Python peers: %s.", meta.s("date"), meta.s("commit"), meta.i("ncpu"), meta.s("cpu"), meta.s("redis"), meta.s("go"), meta.s("python"))
	if meta.b("quick") {
		d.p("")
		d.p("**This was a BENCH_QUICK run** (small N): numbers are indicative only.")
	}
	d.p("")
	d.p("The machine is a shared 2-core VM. Redis, the worker under test and the measuring tool compete for the same two cores, so absolute rates are modest and vary by ±20%% between runs. The ratios are steadier.")
	var loads []string
	for _, r := range rs.where(func(r rec) bool { return r.s("kind") == "load" }) {
		loads = append(loads, fmt.Sprintf("%s %.1f", r.s("section"), r.f("load1")))
	}
	if len(loads) > 0 {
		d.p("")
		d.p("1-minute load average as each section began (anything well above 2 means other work shared the cores): %s.", strings.Join(loads, ", "))
	}
	d.p("")
	summaryAt := d.Len()

	// --- Drain
	d.p("## 1. Worker drain throughput")
	d.p("")
	d.p("`bench/drainbench` empties the database and pre-fills the `celery` queue with N `tasks.add(i, i)` messages. It subscribes to the result channels (`celery-task-meta-*`: the Redis result backend publishes every stored result there, in Celery and in celeriac). Then it starts the worker and times from the first SUCCESS result to the N-th. Results are on everywhere. A sample of the stored results is checked for the right sum.")
	d.p("")
	d.p("For asynq (`bench/asynqbench`, a separate Go module), the same task is enqueued with `Retention` and processed by an `asynq.Server`. The handler writes the sum with `ResultWriter`, so asynq stores a result as the Celery backend does. asynq is measured at its best: each concurrency runs with both queue settings (weighted `Queues`, and `StrictPriority`), the tables show the faster, and each run first processes 1,000 untimed tasks (server goroutines started, connection pool filled), then is timed from the end of that warm-up to the last of the N handler calls. At each concurrency celeriac and asynq run back to back, so that both see the same machine.")
	d.p("")
	d.p("N: Go %s, asynq %s, Python %s (Python runs are shorter because they are slow; the rates are per second).", num(meta.f("n"), 0), num(meta.f("n_asynq"), 0), num(meta.f("n_py"), 0))
	d.p("")
	d.p("### Throughput vs concurrency")
	d.p("")
	d.p("| concurrency | Go, events off (tasks/s) | Go, events on `-E` | asynq | Go / asynq |")
	d.p("|---|---|---|---|---|")
	var concs []int
	for _, r := range drains {
		if (r.s("impl") == "go" || r.s("impl") == "asynq") && max(r.i("procs"), 1) == 1 && !slices.Contains(concs, r.i("conc")) {
			concs = append(concs, r.i("conc"))
		}
	}
	sort.Ints(concs)
	for _, c := range concs {
		g, ge, a := drainOf("go", c, 1, false), drainOf("go", c, 1, true), asynqBest(c)
		d.p("| %d | %s | %s | %s | %s |", c, rate(g), rate(ge), rate(a), ratio(g.f("rate"), a.f("rate")))
	}
	d.p("")
	d.p("![throughput vs concurrency](bench-throughput.png)")
	d.p("")
	goRef := drainOf("go", goC, 1, false)
	d.p("### Against Python Celery")
	d.p("")
	d.p("| worker | N | tasks/s | celeriac `-c %d` is |", goC)
	d.p("|---|---|---|---|")
	for _, row := range []struct{ impl, label string }{
		{"go", fmt.Sprintf("celeriac worker -c %d", goC)},
		{"py_prefork", "celery worker -P prefork -c 2"},
		{"py_threads", "celery worker -P threads -c 10"},
		{"py_solo", "celery worker -P solo"},
		{"asynq", "asynq Server, its fastest setting"},
	} {
		r := drainOf(row.impl, -1, 1, false)
		switch row.impl {
		case "go":
			r = drainOf(row.impl, goC, 1, false)
		case "asynq":
			if r = asynqBest(-1); r != nil {
				row.label = fmt.Sprintf("asynq Server, Concurrency %d, %s queues (its fastest)", r.i("conc"), r.s("queues"))
			}
		}
		if r == nil {
			continue
		}
		rel := ratio(goRef.f("rate"), r.f("rate")) + " faster"
		if row.impl == "go" {
			rel = "—"
		}
		d.p("| `%s` | %s | %s | %s |", row.label, num(r.f("n"), 0), rate(r), rel)
	}
	d.p("")
	pre := drainOf("py_prefork", -1, 1, false)
	asq := asynqBest(-1)
	if goRef != nil && pre != nil {
		x := goRef.f("rate") / pre.f("rate")
		targets = append(targets, target{"drain vs Python prefork -c 2", fmt.Sprintf("%s/s vs %s/s = %s", num(goRef.f("rate"), 0), num(pre.f("rate"), 0), ratio(goRef.f("rate"), pre.f("rate"))), "≥ 30×", yes(x >= 30)})
	}
	if goRef != nil && asq != nil {
		x := goRef.f("rate") / asq.f("rate")
		targets = append(targets, target{fmt.Sprintf("drain (concurrency %d) vs asynq at its best (concurrency %d, %s queues)", goC, asq.i("conc"), asq.s("queues")), fmt.Sprintf("%s/s vs %s/s = %s", num(goRef.f("rate"), 0), num(asq.f("rate"), 0), ratio(goRef.f("rate"), asq.f("rate"))), "≥ 1.5×", yes(x >= 1.5)})
	}

	// --- The same drain on RabbitMQ (section amqp).
	if amqps := kind("amqp_drain"); len(amqps) > 0 {
		amqpOf := func(impl string) rec { return amqps.first(func(r rec) bool { return r.s("impl") == impl }) }
		ag, ap := amqpOf("go"), amqpOf("py_prefork")
		d.p("### On RabbitMQ")
		d.p("")
		d.p("The same drain with RabbitMQ as the broker (a private node, RabbitMQ %s, started by the run, default settings: durable `celery` queue, persistent messages, publisher confirms for the pre-fill), and the results stored in the same Redis as above. Both workers consume with acknowledgements after receipt (not `--acks-late`) and their default prefetch (concurrency × 4).", meta.s("rabbitmq"))
		d.p("")
		d.p("| worker | N | tasks/s | worker CPU per task | celeriac is |")
		d.p("|---|---|---|---|---|")
		for _, row := range []struct {
			r     rec
			label string
		}{
			{ag, fmt.Sprintf("celeriac worker -c %d", ag.i("conc"))},
			{ap, "celery worker -P prefork -c 2"},
		} {
			if row.r == nil {
				continue
			}
			rel := "—"
			if row.r.s("impl") != "go" {
				rel = ratio(ag.f("rate"), row.r.f("rate")) + " faster"
			}
			d.p("| `%s` | %s | %s | %s µs | %s |", row.label, num(row.r.f("n"), 0), rate(row.r), num(row.r.f("worker_cpu_us_per_task"), 0), rel)
		}
		d.p("")
		if ag != nil && ap != nil {
			x := ag.f("rate") / ap.f("rate")
			targets = append(targets, target{"drain on RabbitMQ vs Python prefork -c 2 (same node)", fmt.Sprintf("%s/s vs %s/s = %s", num(ag.f("rate"), 0), num(ap.f("rate"), 0), ratio(ag.f("rate"), ap.f("rate"))), "≥ 20×", yes(x >= 20)})
		}
	}

	scaleOut(&d, drains, goC, float64(max(meta.i("ncpu"), 1)))

	if p1 := drainOf("go_p1", goC, 1, false); p1 != nil && goRef != nil {
		d.p("### The worker on one core")
		d.p("")
		d.p("Go runs goroutines on as many threads as there are cores (GOMAXPROCS). On this 2-core machine Redis needs one of them, and a worker that spreads its goroutines over both pays for waking threads on a core that Redis or the load generator holds. The same worker with `GOMAXPROCS=1`:")
		d.p("")
		d.p("| worker -c %d | tasks/s | worker CPU / task | Redis calls / task |", goC)
		d.p("|---|---|---|---|")
		for _, r := range []struct {
			label string
			r     rec
		}{{"default (GOMAXPROCS = cores)", goRef}, {"`GOMAXPROCS=1`", p1}} {
			d.p("| %s | %s | %s µs | %.2f |", r.label, rate(r.r), num(r.r.f("worker_cpu_us_per_task"), 0), r.r.f("redis_calls_per_task"))
		}
		d.p("")
		d.p("Section 3 measures its latency too. On a machine of its own, with handlers that compute, a worker wants all its cores: the default stays, and `GOMAXPROCS=1` is a setting for workers that share a small machine with Redis.")
		d.p("")
	}

	// --- Redis cost per task
	d.p("### Cost per task")
	d.p("")
	d.p("Measured during the drains above. *Redis calls* come from `INFO commandstats`, reset just before the worker starts, divided by N. Commands run inside a Lua script or a MULTI count one by one, so calls measure Redis' work. *Round trips* count what crosses the network for the Go worker: EVALSHA, EXEC, BRPOP, and events PUBLISHed outside a MULTI. *Redis CPU* is the change in redis-server's `used_cpu_user + used_cpu_sys` (INFO cpu), divided by N. *Worker CPU* is user+system time from `/proc` for the worker process and its pool children, from the first result to the last (asynq: the bench process itself, which runs only the server then).")
	d.p("")
	d.p("| worker | Redis calls / task | round trips / task | Redis CPU / task | worker CPU / task | commands (calls / task) |")
	d.p("|---|---|---|---|---|---|")
	for _, r := range []rec{goRef, drainOf("go", goC, 1, true), drainOf("go", 64, 1, false), pre, drainOf("py_threads", -1, 1, false), asq} {
		if r == nil {
			continue
		}
		label := r.s("impl")
		if r.s("impl") == "go" || r.s("impl") == "asynq" {
			label = fmt.Sprintf("%s -c %d", r.s("impl"), r.i("conc"))
			if r.b("events") {
				label += " -E"
			}
			if q := r.s("queues"); q != "" {
				label += ", " + q + " queues"
			}
		}
		rt, cmds := roundTrips(r)
		rts := "—"
		if !math.IsNaN(rt) {
			rts = fmt.Sprintf("%.2f", rt)
		}
		d.p("| %s | %.2f | %s | %s µs | %s µs | %s |", label, r.f("redis_calls_per_task"), rts, num(r.f("redis_cpu_us_per_task"), 0), num(r.f("worker_cpu_us_per_task"), 0), cmds)
	}
	d.p("")

	// --- Redis ceiling
	d.p("### Redis' own ceiling (`redis-benchmark`, same server)")
	d.p("")
	d.p("| command | 1 client | 50 clients | 50 clients, pipeline 16 |")
	d.p("|---|---|---|---|")
	for _, t := range []string{"LPUSH", "RPOP", "SET"} {
		get := func(c, p int) string {
			r := rbs.first(func(r rec) bool {
				return strings.HasPrefix(r.s("test"), t) && r.i("clients") == c && r.i("pipeline") == p
			})
			if r == nil {
				return "—"
			}
			return num(r.f("rps"), 0) + "/s"
		}
		d.p("| %s | %s | %s | %s |", t, get(1, 1), get(50, 1), get(50, 16))
	}
	d.p("")

	// --- Publish
	d.p("## 2. Client publish rate")
	d.p("")
	d.p("N `tasks.add(i, i)` published to one queue that nothing consumes (Go and asynq: %s, Python: %s).", num(meta.f("pub_n"), 0), num(meta.f("pub_n_py"), 0))
	d.p("")
	d.p("| publisher | messages/s | vs Python apply_async |")
	d.p("|---|---|---|")
	pyApply := pubs.first(func(r rec) bool { return r.s("impl") == "python" && strings.HasPrefix(r.s("mode"), "apply_async") })
	for _, row := range []struct{ impl, mode, label string }{
		{"go", "batch", "Go `Broker.PublishBatch`, 500 per batch (encoding included)"},
		{"go", "concurrent", "Go `Client.SendTask`, one message per call, 16 goroutines"},
		{"go", "sequential", "Go `Client.SendTask`, one at a time"},
		{"asynq", "sequential", "asynq `Client.Enqueue`, one at a time"},
		{"python", "send_task", "Python `app.send_task`, no result backend"},
		{"python", "apply_async_backend", "Python `task.apply_async`, Redis result backend"},
	} {
		r := pubs.first(func(r rec) bool { return r.s("impl") == row.impl && r.s("mode") == row.mode })
		if r == nil {
			continue
		}
		d.p("| %s | %s | %s |", row.label, num(r.f("rate"), 0), ratio(r.f("rate"), pyApply.f("rate")))
	}
	d.p("")
	if pyApply != nil {
		b := pubs.first(func(r rec) bool { return r.s("impl") == "go" && r.s("mode") == "batch" })
		s := pubs.first(func(r rec) bool { return r.s("impl") == "go" && r.s("mode") == "sequential" })
		if b != nil {
			targets = append(targets, target{"publish, batched vs Python apply_async", fmt.Sprintf("%s/s vs %s/s = %s", num(b.f("rate"), 0), num(pyApply.f("rate"), 0), ratio(b.f("rate"), pyApply.f("rate"))), "≥ 25×", yes(b.f("rate")/pyApply.f("rate") >= 25)})
		}
		if cc := pubs.first(func(r rec) bool { return r.s("impl") == "go" && r.s("mode") == "concurrent" }); cc != nil {
			targets = append(targets, target{"publish, single-message SendTask from 16 goroutines vs Python apply_async", fmt.Sprintf("%s/s = %s", num(cc.f("rate"), 0), ratio(cc.f("rate"), pyApply.f("rate"))), "≥ 25×", yes(cc.f("rate")/pyApply.f("rate") >= 25)})
		}
		if s != nil {
			targets = append(targets, target{"publish, SendTask one at a time, one goroutine (round-trip bound)", fmt.Sprintf("%s/s = %s", num(s.f("rate"), 0), ratio(s.f("rate"), pyApply.f("rate"))), "information", "—"})
		}
	}
	d.p("A single `SendTask` is one round trip: an LPUSH, once the first call has cached the queue's declaration. One goroutine sending one message after another is therefore bound by the round trip, as `redis-benchmark`'s 1-client LPUSH rate above is. Python's `apply_async` also subscribes to the result channel on every call, which costs it one more round trip. Concurrent callers share round trips: sends that arrive while one is in flight go out together in the next. This is how an API server's handlers send. Batching puts 500 messages in one pipelined round trip.")
	d.p("")

	// --- Latency
	rounds := max(meta.i("lat_rounds"), 1)
	d.p("## 3. Latency at a steady 1,000 tasks/s")
	d.p("")
	d.p("`bench/latencybench` starts a worker and waits for it to be online. It then sends `tasks.add` open-loop at 1,000/s for %s, each send in its own goroutine, and records two latencies:", meta.s("lat_d"))
	d.p("")
	d.p("- **enqueue → start**: the timestamp of the worker's `task-started` event minus the time just before `SendTask`. The worker stamps that event right before it calls the handler, on the same host clock. How fast the event travels back does not matter. Only a worker with `-E` sends it.")
	d.p("- **enqueue → result**: the time `AsyncResult.Wait` returns in the client. Wait starts as the send starts, so the client subscribes to the result channel while the task is published. Celery's `apply_async` does the same: the Redis backend subscribes before it publishes. Wait then reads the key once and blocks on pub/sub.")
	d.p("")
	d.p("Each round measures four workers back to back: the **floor**, `celeriac worker -E -c %d`, the same without `-E` (the default), and that one again held to one core (`GOMAXPROCS=1`, see section 1). The floor is the same client against a stand-in worker with no celeriac code (`latencybench -floor`): a redigo loop that BRPOPs a message and stores and publishes a SUCCESS for it in one MULTI, with no unacked record, no ack, no events. It is what this machine, Redis and the client cost; celeriac minus the floor is what the worker adds.", goC)
	d.p("")
	if js := kind("jitter"); len(js) > 0 {
		var p50, p99 []float64
		for _, j := range js {
			p50, p99 = append(p50, j.m("oversleep_ms").f("p50")), append(p99, j.m("oversleep_ms").f("p99"))
		}
		busy := kind("jitter_busy")
		var busyP99 []float64
		for _, j := range busy {
			busyP99 = append(busyP99, j.m("oversleep_ms").f("p99"))
		}
		d.p("Latency on this VM is mostly wake-ups, and the host's load comes and goes. Before each round, `latencybench -jitter` sleeps 1 ms at a time for 2 s. The round starts only if the sleeper woke at most %s ms late at p99; otherwise it waits 10 s and measures again, at most %d times, and the last try starts the round anyway.", num(meta.f("lat_jitter_max"), 1), max(meta.i("lat_tries"), 1))
		if len(busy) > 0 {
			d.p("In this run the machine was found busy %d times (p99 wake-up delay %s to %s).", len(busy), ms(slices.Min(busyP99)), ms(slices.Max(busyP99)))
		} else {
			d.p("In this run it was quiet before every round.")
		}
		d.p("In the rounds measured, the sleeper woke late by %s at the median and by %s to %s at p99. A task crosses at least four such wake-ups (Redis, the worker, Redis, the client), and the floor and the workers of one round run back to back, so they share that round's weather. The tables show the median over %d rounds, and every round.",
			ms(median(p50)), ms(slices.Min(p99)), ms(slices.Max(p99)), rounds)
	} else {
		d.p("The tables show the median over %d rounds.", rounds)
	}
	d.p("")
	d.p("| measure (median of %d rounds) | p50 | p90 | p99 | p99.9 | max |", rounds)
	d.p("|---|---|---|---|---|---|")
	floorR := latMedian(lats, "floor", false, "result_ms")
	startE := latMedian(lats, "go", true, "start_ms")
	resE := latMedian(lats, "go", true, "result_ms")
	resN := latMedian(lats, "go", false, "result_ms")
	resP1 := latMedian(lats, "go_p1", false, "result_ms")
	row := func(label string, m rec) {
		if m != nil {
			d.p("| %s | %s | %s | %s | %s | %s |", label, ms(m.f("p50")), ms(m.f("p90")), ms(m.f("p99")), ms(m.f("p999")), ms(m.f("max")))
		}
	}
	row("floor: enqueue → result, stand-in worker (no celeriac code)", floorR)
	row("enqueue → task start (worker `-E`)", startE)
	row("enqueue → result seen by the client (worker `-E`)", resE)
	row("enqueue → result seen by the client (worker without events, the default)", resN)
	row("enqueue → result seen by the client (worker without events, `GOMAXPROCS=1`)", resP1)
	if a := lats.first(func(r rec) bool { return r.s("impl") == "asynq" }); a != nil {
		row(fmt.Sprintf("asynq, enqueue → handler start (same rate, Concurrency %d; one run)", a.i("conc")), a.m("start_ms"))
	}
	d.p("")
	if floorR != nil && resN != nil {
		d.p("Over the floor, the default worker adds %s at p50 and %s at p99 (medians over rounds).", msDelta(resN.f("p50")-floorR.f("p50")), msDelta(resN.f("p99")-floorR.f("p99")))
		d.p("")
	}
	if rounds > 1 {
		d.p("| round | 1 ms sleep, late by p50 / p99 | floor result p50 / p99 | `-E` start p50 / p99 | `-E` result p50 / p99 | default result p50 / p99 | `GOMAXPROCS=1` result p50 / p99 |")
		d.p("|---|---|---|---|---|---|---|")
		pair := func(r rec, k string) string {
			if r == nil || r.m(k) == nil {
				return "—"
			}
			return ms(r.m(k).f("p50")) + " / " + ms(r.m(k).f("p99"))
		}
		for i := 1; i <= rounds; i++ {
			of := func(impl string, events bool) rec {
				return lats.first(func(r rec) bool { return r.i("round") == i && r.s("impl") == impl && r.b("events") == events })
			}
			e := of("go", true)
			j := kind("jitter").first(func(r rec) bool { return r.i("round") == i })
			d.p("| %d | %s | %s | %s | %s | %s | %s |", i, pair(j, "oversleep_ms"), pair(of("floor", false), "result_ms"), pair(e, "start_ms"), pair(e, "result_ms"), pair(of("go", false), "result_ms"), pair(of("go_p1", false), "result_ms"))
		}
		d.p("")
	}
	if startE != nil {
		targets = append(targets, target{"latency enqueue → start, p50 / p99", ms(startE.f("p50")) + " / " + ms(startE.f("p99")), "< 1 ms / < 5 ms", yes(startE.f("p50") < 1 && startE.f("p99") < 5)})
	}
	if resE != nil {
		targets = append(targets, target{"latency enqueue → result, p50 / p99 (worker -E)", ms(resE.f("p50")) + " / " + ms(resE.f("p99")), "< 1 ms / < 5 ms", yes(resE.f("p50") < 1 && resE.f("p99") < 5)})
	}
	if resN != nil {
		targets = append(targets, target{"latency enqueue → result, p50 / p99 (worker without events)", ms(resN.f("p50")) + " / " + ms(resN.f("p99")), "< 1 ms / < 5 ms", yes(resN.f("p50") < 1 && resN.f("p99") < 5)})
	}
	if resP1 != nil {
		targets = append(targets, target{"latency enqueue → result, p50 / p99 (worker without events, GOMAXPROCS=1)", ms(resP1.f("p50")) + " / " + ms(resP1.f("p99")), "information", "—"})
	}
	if floorR != nil {
		targets = append(targets, target{"latency floor (no celeriac code), p50 / p99", ms(floorR.f("p50")) + " / " + ms(floorR.f("p99")), "information", "—"})
	}
	d.p("asynq is measured in its own process (`bench/asynqbench -mode latency`): the enqueue time travels in the payload and the handler subtracts it. asynq has no push notification of results, so only the start is measured. Its latency is the cost of polling. An asynq processor that finds its queues empty sleeps about a second (`taskCheckInterval`) before it looks again. At 1,000 tasks/s, spread over %d workers, the queue is often empty for a moment, so most tasks wait for a sleeper to wake.", goC)
	d.p("")
	d.p("![latency CDF](bench-latency.png)")
	d.p("")
	d.p("Nothing on the path waits on a timer, and the worker adds no round trip to it: it blocks in BRPOP, and sends the message's unacked record without waiting for the reply, so the task starts while the record travels (an ack waits for that reply, so it can never overtake the record). The result is stored and published in one MULTI, which the client receives on pub/sub. Acks and events go out as soon as the previous round trip ends, with whatever queued meanwhile: batching happens only under load and adds no delay. What the worker adds over the floor is CPU time and scheduling on 2 shared cores, where Redis, the worker and the load generator preempt one another.")
	d.p("")

	// --- No polling
	d.p("## 4. No polling")
	d.p("")
	d.p("`internal/design` (run by `go test ./...`) parses every non-test Go file of the module with `go/parser`. It fails on `time.Sleep`, `time.Tick`, `time.NewTicker`, and on `time.After`/`time.NewTimer`/`time.AfterFunc` inside a `for` loop, unless the call is on an allowlist, where every entry has a one-line justification:")
	d.p("")
	d.p("- heartbeats are periodic sends;")
	d.p("- reconnect back-off follows an error;")
	d.p("- SSE keep-alives are periodic writes;")
	d.p("- the benchmark's open-loop pacer drives the load.")
	d.p("")
	d.p("Waiting for work is BRPOP, and waiting for results, events or remote control is pub/sub. ETA, countdown, rate limits and the visibility sweep use one-shot timers set to the exact due time.")
	d.p("")
	targets = append(targets, target{"no polling with sleep/ticker", "enforced by `internal/design` (go test)", "none outside the allowlist", "**met**"})

	// --- Memory
	d.p("## 5. Memory")
	d.p("")
	d.p("VmRSS from `/proc/<pid>/status`, 3 s after start (Python: 6 s, main process plus pool children).")
	d.p("")
	d.p("| process | state | RSS |")
	d.p("|---|---|---|")
	var backlog []float64
	partsOf := func(proc string) rec {
		return rs.first(func(r rec) bool { return r.s("kind") == "rss_parts" && r.s("proc") == proc })
	}
	for _, r := range mems {
		if r.s("state") == "backlog" {
			backlog = append(backlog, r.f("rss_kb")/1024)
			continue
		}
		label := map[string]string{"worker": fmt.Sprintf("`celeriac worker -c %d`", goC), "serve": "`celeriac serve` (API + worker)", "py_prefork_c2": "Python `celery worker -P prefork -c 2`"}[r.s("proc")]
		parts := ""
		if pr := partsOf(r.s("proc")); pr != nil {
			parts = fmt.Sprintf(" (anonymous %.1f MB, binary pages %.1f MB)", pr.f("anon_kb")/1024, pr.f("file_kb")/1024)
		}
		d.p("| %s | %s | %.1f MB%s |", label, r.s("state"), r.f("rss_kb")/1024, parts)
	}
	if len(backlog) > 0 {
		lo, hi := slices.Min(backlog), slices.Max(backlog)
		d.p("| `celeriac worker -c %d` | draining a backlog of %s messages, sampled each second for %d s | %.1f–%.1f MB |", goC, num(meta.f("backlog"), 0), len(backlog), lo, hi)
		idle := mems.first(func(r rec) bool { return r.s("proc") == "worker" && r.s("state") == "idle" })
		if idle != nil {
			m := fmt.Sprintf("%.1f MiB", idle.f("rss_kb")/1024)
			if pr := partsOf("worker"); pr != nil {
				m += fmt.Sprintf(" (%.1f anonymous + %.1f binary pages)", pr.f("anon_kb")/1024, pr.f("file_kb")/1024)
			}
			targets = append(targets, target{"idle worker RSS", m, "< 12 MiB", yes(idle.f("rss_kb")/1024 < 12)})
		}
		targets = append(targets, target{fmt.Sprintf("worker RSS with %s queued", num(meta.f("backlog"), 0)), fmt.Sprintf("%.1f–%.1f MB", lo, hi), "flat (±5 MB)", yes(hi-lo <= 5)})
	}
	d.p("")
	if b := kind("binary").first(func(rec) bool { return true }); b != nil {
		d.p("The binary (`make build`: `-tags nomsgpack -trimpath -ldflags='-s -w'`, static) is %.1f MiB. Most of an idle worker's RSS is the binary's own pages, mapped as its code runs, so what the binary links counts: gin's MessagePack binding alone was 6 MB of it. gin's YAML and TOML bindings (goccy/go-yaml, pelletier/go-toml) are not in it: the API binds only JSON, and the linker drops them (under 1 KB of goccy/go-yaml is left, `go tool nm -size`); the YAML and TOML code in the binary is celeriac's own (the yaml wire format, routes files), one library each.", b.f("bytes")/1048576)
		d.p("")
	}
	d.p("The worker holds only its prefetch window, `concurrency × prefetch multiplier` messages, however long the queue is. So its memory does not grow with the backlog. The backlog lives in Redis.")
	d.p("")

	// --- API
	d.p("## 6. HTTP API")
	d.p("")
	conns := 0
	if len(apis) > 0 {
		conns = apis[0].i("conns")
	}
	d.p("`bench/apibench` is a closed-loop Go load generator with %d connections for %s after a 2 s warm-up. No worker runs, so this measures the API plus the publish. Both servers publish to the same redis-server. FastAPI is the seed's app under uvicorn (1 worker, as in the seed).", conns, meta.s("api_d"))
	d.p("")
	d.p("| server | route | req/s | p50 | p99 | vs FastAPI |")
	d.p("|---|---|---|---|---|---|")
	fa := apis.first(func(r rec) bool { return r.s("impl") == "fastapi" })
	for _, r := range apis {
		label := map[string]string{"gin": "`celeriac serve` (Gin)", "fastapi": "FastAPI + uvicorn"}[r.s("impl")]
		d.p("| %s | `%s` | %s | %s | %s | %s |", label, r.s("route"), num(r.f("rps"), 0), ms(r.f("p50_ms")), ms(r.f("p99_ms")), ratio(r.f("rps"), fa.f("rps")))
		if r.s("impl") == "gin" && fa != nil {
			targets = append(targets, target{"API " + r.s("route") + " vs FastAPI /run-task/", fmt.Sprintf("%s vs %s req/s = %s", num(r.f("rps"), 0), num(fa.f("rps"), 0), ratio(r.f("rps"), fa.f("rps"))), "≥ 10×", yes(r.f("rps")/fa.f("rps") >= 10)})
			targets = append(targets, target{fmt.Sprintf("API %s p99 at %d connections", r.s("route"), r.i("conns")), ms(r.f("p99_ms")), "< 5 ms", yes(r.f("p99_ms") < 5)})
		}
	}
	d.p("")

	// --- Micro
	d.p("## 7. Codec micro-benchmarks (`go test -bench`)")
	d.p("")
	d.p("| benchmark | time/op | B/op | allocs/op |")
	d.p("|---|---|---|---|")
	for _, r := range micros {
		d.p("| `%s` | %s µs | %s | %s |", r.s("name"), num(r.f("ns_op")/1000, 2), num(r.f("b_op"), 0), num(r.f("allocs_op"), 0))
	}
	d.p("")
	d.p("### What profiling changed")
	d.p("")
	d.p("`go test -cpuprofile` on `BenchmarkDrain` (worker, in-process, real redis-server) and `BenchmarkDecodeMessage` found two costs worth removing. Paired before/after runs on the same machine:")
	d.p("")
	d.p("| change | before | after |")
	d.p("|---|---|---|")
	d.p("| The worker built the `task-succeeded` event's result repr (`pyjson.SafeRepr`) for every task, even with task events off, when the dispatcher drops the event. It was about 8%% of worker CPU. Now it is built only when events are on. | `BenchmarkDrain` 201 µs/op | 181 µs/op |")
	d.p("| `pyjson.Decode`'s scratch stacks escaped to the heap on every call, and an envelope's ~25 header keys outgrew them. Decoders are now pooled, with 64-entry stacks. | `DecodeMessage` 12.0 µs, 7,120 B, 47 allocs | 10.1 µs, 5,073 B, 41 allocs |")
	d.p("| The broker's and backend's own connection pools kept at most 16 idle connections. Under 64 concurrent API requests, that made every burst close the surplus and dial it again: 7,649 new Redis connections in 4 s, one request in three. A worker storing results at `-c 32`/`-c 64` churned the same way. The pools now keep up to 256 idle connections. | `GET /run-task/` at 64 connections: serve 185 µs CPU per request, redis-server 49 µs | 128 µs, 24 µs |")
	d.p("| Task events (`events.Event`, a named `map[string]any`) were encoded by reflection, one sorted entry slice per map. Named maps and slices of `any` now take the encoder's fast path, with the same output. | a batch of 3 task events: 26 µs, 63 allocs | 13 µs, 9 allocs |")
	d.p("| `Client.SendTask` made one round trip per message even when many goroutines sent at once. Concurrent single publishes now share round trips (`Broker.PublishOne`). A lone sender still sends from its own goroutine, while senders that arrive during a round trip go together in the next one. | `GET /run-task/` at 64 connections: redis-server 18–24 µs CPU per request | 9–11 µs |")
	d.p("")
	d.p("Before this round the published figures were `EncodeMessage` 3.0 µs / 14 allocs and `DecodeMessage` 12.3 µs / 47 allocs.")
	d.p("")
	d.p("One change was tried and not kept: pipelining concurrent SUCCESS stores into one MULTI. At `-c 8`, about 1.5 stores coincide per round trip, and the CPU per task did not move beyond noise.")
	d.p("")
	d.p("What remains is spread thin. Per task, the worker's time goes to:")
	d.p("")
	d.p("- socket syscalls, about 18%% (one result round trip per task, plus batched acks and pops);")
	d.p("- decoding the envelope and body;")
	d.p("- encoding the extended result meta;")
	d.p("- goroutine hand-offs.")
	d.p("")
	d.p("With `-E`, building and encoding three events per task is still the largest single cost. Compare the worker CPU with and without `-E` in section 1.")
	d.p("")

	// --- Scaling analysis
	d.p("## 8. Where the ceiling is, and how to go past it")
	d.p("")
	scaling(&d, goRef, drains, rbs, goC)

	// Summary table, inserted after the introduction.
	var sum strings.Builder
	sum.WriteString("## Targets\n\n| target | measured (this run) | goal | |\n|---|---|---|---|\n")
	for _, t := range targets {
		fmt.Fprintf(&sum, "| %s | %s | %s | %s |\n", t.what, t.measured, t.goal, t.status)
	}
	sum.WriteString("\n")
	full := d.String()
	full = full[:summaryAt] + sum.String() + full[summaryAt:]
	return full, sum.String()
}

func rate(r rec) string {
	if r == nil {
		return "—"
	}
	return num(r.f("rate"), 0)
}

// roundTrips counts the Go worker's network round trips per task: the
// batch-pop script (EVALSHA), each MULTI…EXEC pipeline (ack batch, result
// store) and BRPOP; plain PUBLISH (events) is one more. Commands run by a
// script or queued in a MULTI are Redis work, not round trips.
func roundTrips(r rec) (float64, string) {
	cmds := r.m("redis_commands")
	n := r.f("n") + r.f("warmup") // the commands count the warm-up's tasks too
	type kv struct {
		k string
		v float64
	}
	var all []kv
	for k, v := range cmds {
		f, _ := v.(float64)
		if f/n >= 0.05 {
			all = append(all, kv{k, f / n})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var parts []string
	for _, e := range all {
		parts = append(parts, fmt.Sprintf("%s %.2f", e.k, e.v))
	}
	if r.s("impl") != "go" {
		return math.NaN(), strings.Join(parts, ", ")
	}
	rt := cmds.f("evalsha") + cmds.f("eval") + cmds.f("exec") + cmds.f("brpop")
	if r.b("events") {
		// Events are PUBLISHed outside MULTI; results PUBLISH inside it.
		rt += math.Max(0, cmds.f("publish")-cmds.f("setex"))
	}
	return rt / n, strings.Join(parts, ", ")
}

func scaling(d *doc, goRef rec, drains, rbs results, goC int) {
	if goRef == nil {
		d.p("(no Go drain record)")
		return
	}
	calls := goRef.f("redis_calls_per_task")
	rt, _ := roundTrips(goRef)
	rb := func(t string, c, p int) float64 {
		r := rbs.first(func(r rec) bool {
			return strings.HasPrefix(r.s("test"), t) && r.i("clients") == c && r.i("pipeline") == p
		})
		if r == nil {
			return 0
		}
		return r.f("rps")
	}
	piped := (rb("LPUSH", 50, 16) + rb("RPOP", 50, 16) + rb("SET", 50, 16)) / 3
	unpiped := (rb("LPUSH", 50, 1) + rb("RPOP", 50, 1) + rb("SET", 50, 1)) / 3
	redisUS, workerUS := goRef.f("redis_cpu_us_per_task"), goRef.f("worker_cpu_us_per_task")
	d.p("**What a task costs.** With results on and events off, one task costs Redis %.1f command calls in about %.2f network round trips:", calls, rt)
	d.p("")
	d.p("- the pop, with its record in `unacked` and `unacked_index` (RPOP + HSET + ZADD), runs in one Lua script per prefetch window;")
	d.p("- the ack (HDEL + ZREM) goes in one MULTI for every ack that has queued up;")
	d.p("- the result (SETEX + PUBLISH) is one MULTI per task.")
	d.p("")
	d.p("That is %s µs of redis-server CPU and %s µs of worker CPU per task (table above). Python Celery needs about 14 calls per task (a BRPOP and three MULTIs) and asynq about 16.", num(redisUS, 0), num(workerUS, 0))
	d.p("")
	var bestRec rec
	for _, r := range drains {
		if r.s("impl") == "go" && (bestRec == nil || r.f("rate") > bestRec.f("rate")) {
			bestRec = r
		}
	}
	ncpu := 2.0
	d.p("**Where the ceiling is.** Redis runs commands on one thread, so one redis-server can serve at most about 1 s / %s µs ≈ **%s tasks/s** of this kind. That takes a whole core for Redis and about %.1f more cores of workers. `redis-benchmark` agrees on the order of magnitude: %s simple commands/s unpipelined and %s pipelined, at %.1f calls per task.", num(redisUS, 0), num(1e6/redisUS, 0), 1e6/redisUS*workerUS/1e6, num(unpiped, 0), num(piped, 0), calls)
	d.p("")
	d.p("On this %d-core VM the bound comes first from the CPU the processes share. At `-c %d`, (Redis CPU + worker CPU) per task is %s µs, so two cores allow at most about %s tasks/s, and the measuring tool and the OS also need some.", int(ncpu), goC, num(redisUS+workerUS, 0), num(ncpu*1e6/(redisUS+workerUS), 0))
	if bestRec != nil {
		bu := bestRec.f("redis_cpu_us_per_task") + bestRec.f("worker_cpu_us_per_task")
		d.p("The best Go rate in this run was %s tasks/s (%d process(es) × `-c %d`), at %s µs of Redis + worker CPU per task, a bound of about %s tasks/s.", num(bestRec.f("rate"), 0), max(bestRec.i("procs"), 1), bestRec.i("conc"), num(bu, 0), num(ncpu*1e6/bu, 0))
	}
	d.p("")
	d.p("More concurrency, in one process or spread over several, lowers the cost per task. With more tasks in flight, the pop script, the ack MULTI and the event PUBLISHes each carry more tasks, and round trips overlap instead of leaving the CPU idle while a goroutine waits on Redis. Compare calls and CPU per task at `-c %d` and `-c 64` in the table. Several processes also run their pop scripts, acks and stores on separate connections in parallel. The gain ends where the two cores are busy: past that point more processes only split the same CPU.", goC)
	d.p("")
	d.p("**Past the ceiling:**")
	d.p("")
	d.p("1. *Fewer round trips per task.* Pipeline the ack, the result and the task events of every task that finished in the same instant into one MULTI round trip. The ack batch and the result store are separate round trips today. This cuts round trips per task to about one pop-script step per prefetch window plus one EXEC per completion batch. The Redis *work* stays the same.")
	d.p("2. *Less Redis work per task.* `acks_late=False` tasks could skip `unacked` bookkeeping entirely (no HSET/ZADD/HDEL/ZREM). But Celery's visibility guarantee lives in that bookkeeping, so the default keeps it. Ignoring results (`ignore_result=True`) removes the SETEX + PUBLISH.")
	d.p("3. *More Redis.* One Redis executes commands on one thread. Past about %s tasks/s, split queues across several Redis instances: one broker URL per queue group, with workers consuming from the shard that holds their queues. Or use Redis Cluster with hash-tagged keys, so a queue, its `unacked` entries and its results stay in one slot. Sentinel gives failover, not throughput.", num(1e6/redisUS, 0))
	d.p("4. *Cores for the worker.* The worker's own CPU per task goes mostly to JSON decoding of the envelope and body (section 7), encoding the result meta, and redigo I/O. Workers scale out across cores and machines until Redis' thread is saturated, at the ceiling above.")
	d.p("")
}

// scaleOut writes the table of 1, 2, 4, 8 worker processes on one Redis
// (issue #23 item 5) and says, from the numbers, where the curve bends and
// why: CPU time per task times the rate is the cores in use.
func scaleOut(d *doc, drains results, goC int, ncpu float64) {
	var rows []rec
	for _, p := range []int{1, 2, 4, 8} {
		if r := drains.first(func(r rec) bool {
			return r.s("impl") == "go" && r.i("conc") == goC && max(r.i("procs"), 1) == p && !r.b("events")
		}); r != nil {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	d.p("### Worker processes on one Redis")
	d.p("")
	d.p("The same drain with 1, 2, 4 and 8 `celeriac worker -c %d` processes on the one redis-server. *Cores busy* is the rate times the CPU time per task (Redis + workers): how much of the machine's %.0f cores the drain used.", goC, ncpu)
	d.p("")
	d.p("| processes × concurrency | tasks/s | per process | gain | Redis CPU / task | worker CPU / task | Redis calls / task | Redis core busy | cores busy |")
	d.p("|---|---|---|---|---|---|---|---|---|")
	busy := func(r rec) (redis, all float64) {
		rc := r.f("redis_cpu_us_per_task")
		return r.f("rate") * rc / 1e6, r.f("rate") * (rc + r.f("worker_cpu_us_per_task")) / 1e6
	}
	bend := -1
	for i, r := range rows {
		p := max(r.i("procs"), 1)
		gain := "—"
		if i > 0 {
			g := r.f("rate")/rows[i-1].f("rate") - 1
			gain = fmt.Sprintf("%+.0f%%", 100*g)
			// The curve bends at the first doubling that adds less than a
			// quarter.
			if bend < 0 && g < 0.25 {
				bend = i
			}
		}
		rb, ab := busy(r)
		d.p("| %d × %d | %s | %s | %s | %s µs | %s µs | %.2f | %.2f | %.2f |", p, goC, rate(r), num(r.f("rate")/float64(p), 0), gain,
			num(r.f("redis_cpu_us_per_task"), 0), num(r.f("worker_cpu_us_per_task"), 0), r.f("redis_calls_per_task"), rb, ab)
	}
	d.p("")
	last := rows[len(rows)-1]
	lrb, lab := busy(last)
	if bend > 0 {
		b := rows[bend]
		brb, bab := busy(b)
		d.p("**Where it bends.** Going from %d to %d processes adds less than a quarter: by then the drain keeps %.2f of the %.0f cores busy (Redis, the workers and the measuring tool share them), while Redis' own thread is busy %.0f%% of the time. The bound is this machine's CPU, not Redis: each process added past that point only splits the same cores, and pays for its own connections, pop scripts and idle wake-ups.",
			max(rows[bend-1].i("procs"), 1), max(b.i("procs"), 1), bab, ncpu, 100*brb)
	} else {
		d.p("**Where it bends.** Every doubling added at least a quarter in this run; at %d processes the drain kept %.2f of the %.0f cores busy, Redis' thread %.0f%% of the time.", max(last.i("procs"), 1), lab, ncpu, 100*lrb)
	}
	d.p("")
	d.p("Why more processes help at all on %.0f cores: each process runs its own pop script, ack MULTI and result writes on its own connections, so more tasks are in flight and each round trip carries more of them; the Redis calls per task stay the same (%.2f with 1 process, %.2f with %d), and the Redis CPU per task falls as its batches grow.", ncpu, rows[0].f("redis_calls_per_task"), last.f("redis_calls_per_task"), max(last.i("procs"), 1))
	d.p("")
	if rc := last.f("redis_cpu_us_per_task"); rc > 0 {
		d.p("**On a bigger machine, and past one Redis.** With cores to spare, the rate grows with processes until Redis' one thread is busy all the time: about 1 s / %s µs ≈ %s tasks/s at this run's Redis cost per task. Past that, a fleet needs more Redis, not more workers: split the queues over several redis-servers (each worker's `--broker` names the shard its queues live on, and its results may go to another `--result-backend`), as section 8 describes. Watch redis-server's CPU (`INFO cpu`) rather than the workers': when it nears one core, add a shard.", num(rc, 0), num(1e6/rc, 0))
		d.p("")
	}
}
