//go:build integration

package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/celery/security"
	"github.com/celeriac/celeriac/internal/certtest"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

// codecCompressions are the compressions kombu 5.7 registers on Python
// 3.11 with the pinned packages ("" = none).
var codecCompressions = []string{"", "zlib", "bzip2", "brotli", "lzma", "zstd"}

// codecArgs are echoed back by tasks.echo: every JSON-shaped type.
func codecArgs(i int) []any {
	return []any{i, "héllo ☃", 1.5, nil, true, []any{1, -2, 1 << 40}, map[string]any{"a": "b"}}
}

// wantEcho is tasks.echo's result for codecArgs(i) and kwargs, as plain
// JSON values.
func wantEcho(t *testing.T, i int, kw map[string]any) any {
	t.Helper()
	return plainJSON(t, []any{codecArgs(i), kw})
}

func plainJSON(t *testing.T, v any) any {
	t.Helper()
	raw, err := pyjson.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Python Celery 5.7 clients with task_serializer and result_serializer
// msgpack or yaml, sending with every compression, get their results
// from a Go worker (celeriac worker --accept-content json,msgpack,yaml
// --result-serializer X) through AsyncResult.get(); the Go client reads
// the same results.
func TestCodecPythonClientGoWorker(t *testing.T) {
	e := newEnv(t)
	for _, ser := range []string{"msgpack", "yaml", "json"} {
		t.Run(ser, func(t *testing.T) {
			queue := "codec-" + ser
			args := []string{"worker", "--broker", e.URL, "-Q", queue, "-c", "2", "-n", "codec-" + ser + "@%h",
				"--accept-content", "json,msgpack,yaml", "--result-serializer", ser}
			resultCompression := ""
			if ser == "yaml" {
				resultCompression = "zstd" // Celery 5.7's result_compression, both ways
				args = append(args, "--result-compression", resultCompression)
			}
			startBinary(t, "worker ready", args...)
			type item struct {
				Name    string         `json:"name"`
				Args    []any          `json:"args"`
				Kwargs  map[string]any `json:"kwargs"`
				Options map[string]any `json:"options"`
			}
			var items []item
			for i, c := range codecCompressions {
				opts := map[string]any{"queue": queue}
				if c != "" {
					opts["compression"] = c
				}
				items = append(items, item{"tasks.echo", codecArgs(i), map[string]any{"compression": c}, opts})
			}
			stdin, _ := json.Marshal(items)
			cmd := pypeer.Cmd{BrokerURL: e.URL, Stdin: stdin, Env: []string{
				"CELERIAC_TASK_SERIALIZER=" + ser, "CELERIAC_RESULT_SERIALIZER=" + ser,
				"CELERIAC_ACCEPT_CONTENT=json,msgpack,yaml", "CELERIAC_RESULT_COMPRESSION=" + resultCompression,
			}}
			var got []struct {
				ID     string `json:"id"`
				State  string `json:"state"`
				Result any    `json:"result"`
			}
			cmd.RunJSON(t, &got, "client.py", "send-get", "--timeout", "60")
			if len(got) != len(items) {
				t.Fatalf("got %d results for %d tasks", len(got), len(items))
			}
			if ser != "json" { // and Celery 3.x's protocol 1 in this serializer
				var v1 []struct {
					ID     string `json:"id"`
					State  string `json:"state"`
					Result any    `json:"result"`
				}
				cmd.RunJSON(t, &v1, "client.py", "send-get", "--timeout", "60", "--protocol", "1")
				got = append(got, v1...)
				items = append(items, items...)
			}
			ctx := ctxFor(t, time.Minute)
			for i, r := range got {
				c := codecCompressions[i%len(codecCompressions)]
				want := wantEcho(t, i%len(codecCompressions), items[i].Kwargs)
				if r.State != "SUCCESS" || !cmp.Equal(r.Result, want) {
					t.Errorf("%s/%q (#%d): Python got %s %v, want %v", ser, c, i, r.State, r.Result, want)
				}
				var goGot any
				if err := e.Client.AsyncResult(r.ID).Get(ctx, &goGot); err != nil || !cmp.Equal(plainJSON(t, goGot), want) {
					t.Errorf("%s/%q (#%d): Go client got %v, %v", ser, c, i, goGot, err)
				}
			}
		})
	}
}

// A Go client sends msgpack and YAML messages, with every compression it
// can write and with protocol 1, to a Python Celery 5.7 worker that
// accepts them; the results come back to the Go client and to Python's
// AsyncResult.get().
func TestCodecGoClientPythonWorker(t *testing.T) {
	e := newEnv(t)
	for _, ser := range []string{"msgpack", "yaml"} {
		t.Run(ser, func(t *testing.T) {
			queue := "codec-py-" + ser
			env := []string{"CELERIAC_ACCEPT_CONTENT=json,msgpack,yaml", "CELERIAC_RESULT_SERIALIZER=" + ser}
			pypeer.StartWorker(t, e.URL, pypeer.WithQueues(queue), pypeer.WithEnv(env...))
			ctx := ctxFor(t, 2*time.Minute)
			type sent struct {
				id, label string
				want      any
			}
			var all []sent
			for i, c := range append(codecCompressions[:1:1], "zlib", "brotli", "lzma", "zstd") {
				for _, proto := range []int{2, 1} {
					kw := map[string]any{"compression": c, "protocol": proto}
					opts := []celery.SendOption{celery.Args(codecArgs(i)...), celery.Kwargs(kw), celery.Queue(queue),
						celery.Serializer(ser), celery.Protocol(proto)}
					if c != "" {
						opts = append(opts, celery.Compression(c))
					}
					res, err := e.Client.SendTask(ctx, "tasks.echo", opts...)
					if err != nil {
						t.Fatal(err)
					}
					all = append(all, sent{res.ID, c + "/v" + string(rune('0'+proto)), wantEcho(t, i, kw)})
				}
			}
			for _, s := range all {
				var got any
				if err := e.Client.AsyncResult(s.id).Get(ctx, &got); err != nil || !cmp.Equal(plainJSON(t, got), s.want) {
					t.Errorf("%s %s: Go client got %v, %v; want %v", ser, s.label, got, err, s.want)
				}
			}
			// Python's AsyncResult.get() reads the worker's result too.
			cmd := pypeer.Cmd{BrokerURL: e.URL, Env: env}
			var r pyResult
			cmd.RunJSON(t, &r, "client.py", "get", all[len(all)-1].id, "--timeout", "30")
			if r.State != "SUCCESS" || !cmp.Equal(plainJSON(t, r.Result), all[len(all)-1].want) {
				t.Errorf("Python get: %+v", r)
			}
		})
	}
}

// A message whose compressed body inflates past the worker's message size
// limit fails with kombu's LimitExceeded, whatever the compression;
// decompression stops at the limit.
func TestCodecDecompressionBomb(t *testing.T) {
	e := newEnv(t)
	startGoWorker(t, e.URL, nil, worker.WithMaxMessageSize(1<<20), worker.WithQueues("bomb"))
	ctx := ctxFor(t, time.Minute)
	bomb := strings.Repeat("0", 8<<20)
	for _, c := range []string{"zlib", "brotli", "lzma", "zstd"} {
		res, err := e.Client.SendTask(ctx, "tasks.echo", celery.Args(bomb), celery.Compression(c), celery.Queue("bomb"))
		if err != nil {
			t.Fatal(err)
		}
		var te *celery.TaskError
		if err := res.Get(ctx, nil); !errors.As(err, &te) || te.Type != "LimitExceeded" || !strings.Contains(te.Message(), "inflates past") {
			t.Errorf("%s: %v, want LimitExceeded", c, err)
		}
	}
	// Within the limit the same compressions run.
	res, err := e.Client.SendTask(ctx, "tasks.echo", celery.Args("ok"), celery.Compression("zstd"), celery.Queue("bomb"))
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Get(ctx, nil); err != nil {
		t.Errorf("small zstd message: %v", err)
	}
}

// A Python fleet whose task_serializer is msgpack sends its remote-control
// commands in msgpack (kombu's Mailbox uses task_serializer): a Go worker
// that accepts msgpack answers Python's ping in msgpack, and the Go
// control client reads a Python worker's msgpack replies.
func TestCodecControlMsgpack(t *testing.T) {
	e := newEnv(t)
	env := []string{"CELERIAC_TASK_SERIALIZER=msgpack", "CELERIAC_ACCEPT_CONTENT=msgpack"}
	// The Python worker also takes the Go client's JSON commands.
	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues("pyq"), pypeer.WithEnv("CELERIAC_TASK_SERIALIZER=msgpack", "CELERIAC_ACCEPT_CONTENT=msgpack,json"))
	startGoWorker(t, e.URL, nil, worker.WithHostname(ctlGoNode), worker.WithAcceptContent("json", "msgpack"), wkLogger(t))
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, ctlGoNode)
	waitGoNode(t, ctl, py.NodeName())
	ctx := ctxFor(t, time.Minute)
	stats, err := ctl.Inspect(ctx, "stats", nil, 2*time.Second, py.NodeName())
	if err != nil || stats[py.NodeName()].(map[string]any)["pool"] == nil {
		t.Fatalf("Go inspect stats of a msgpack Python worker = %v, %v", stats, err)
	}
	var pong []map[string]any
	pypeer.Cmd{BrokerURL: e.URL, Env: env}.RunJSON(t, &pong, "control.py", "ping", "--timeout", "1.5")
	nodes := map[string]bool{}
	for _, r := range pong {
		for n := range r {
			nodes[n] = true
		}
	}
	if !nodes[ctlGoNode] || !nodes[py.NodeName()] {
		t.Errorf("msgpack Python ping of the mixed fleet = %v", pong)
	}
}

// `celeriac call --serializer --compression --protocol` reaches a Python
// worker that accepts msgpack, and a Go worker started with
// --accept-content refuses what it was not told to accept.
func TestCodecCLI(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("py-cli"), pypeer.WithEnv("CELERIAC_ACCEPT_CONTENT=json,msgpack"))
	for _, proto := range []string{"1", "2"} {
		out, stderr, code := wireCLI(t, "call", "tasks.add", "-a", "[2, 3]", "--broker", e.URL, "--queue", "py-cli",
			"--serializer", "msgpack", "--compression", "zstd", "--protocol", proto, "--wait", "--timeout", "60s")
		if code != 0 || !strings.Contains(out, `"result": 5`) {
			t.Errorf("call --protocol %s: exit %d\nstdout %s\nstderr %s", proto, code, out, stderr)
		}
	}
	startBinary(t, "worker ready", "worker", "--broker", e.URL, "-Q", "go-cli", "--accept-content", "json,msgpack")
	out, _, code := wireCLI(t, "call", "tasks.add", "-a", "[2, 3]", "--broker", e.URL, "--queue", "go-cli", "--serializer", "msgpack", "--wait", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, `"result": 5`) {
		t.Errorf("msgpack to the Go worker: exit %d\n%s", code, out)
	}
	out, stderr, code := wireCLI(t, "call", "tasks.add", "-a", "[2, 3]", "--broker", e.URL, "--queue", "go-cli", "--serializer", "yaml", "--wait", "--timeout", "30s")
	if code == 0 || !strings.Contains(out+stderr, "ContentDisallowed") {
		t.Errorf("yaml to a worker accepting json,msgpack: exit %d\n%s\n%s", code, out, stderr)
	}
}

// Message signing (Celery's "auth" serializer) both ways: a Go worker
// trusting a Python client's certificate runs its signed tasks and
// refuses unsigned ones and ones signed by an unknown key; a Python
// worker trusting the Go client's certificate runs the Go client's.
func TestCodecSigning(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	storeGo, storePy := filepath.Join(dir, "go-trusts"), filepath.Join(dir, "py-trusts")
	for _, d := range []string{storeGo, storePy} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	until := time.Now().Add(time.Hour)
	pyClient := certtest.New(t, dir, "py-client", 11, until)
	goClient := certtest.New(t, dir, "go-client", 12, until)
	mallory := certtest.New(t, dir, "mallory", 13, until)
	goWorker := certtest.New(t, dir, "go-worker", 14, until)
	certtest.Trust(t, storeGo, pyClient)
	certtest.Trust(t, storeGo, goWorker) // its own retries
	certtest.Trust(t, storePy, goClient)
	pyEnv := func(s certtest.Signer) []string {
		return []string{"CELERIAC_SECURITY_KEY=" + s.Key, "CELERIAC_SECURITY_CERT=" + s.Cert, "CELERIAC_SECURITY_STORE=" + storePy}
	}
	startBinary(t, "worker ready", "worker", "--broker", e.URL, "-Q", "sec-go", "--accept-content", "auth", "--security-cert-store", storeGo,
		"--security-key", goWorker.Key, "--security-certificate", goWorker.Cert)

	sendTask := func(signer certtest.Signer, stdin string) (state string, result any) {
		t.Helper()
		var got []struct {
			State  string `json:"state"`
			Result any    `json:"result"`
		}
		pypeer.Cmd{BrokerURL: e.URL, Stdin: []byte(stdin), Env: pyEnv(signer)}.RunJSON(t, &got, "client.py", "send-get", "--timeout", "30")
		return got[0].State, got[0].Result
	}
	send := func(signer certtest.Signer) (string, any) {
		return sendTask(signer, `[{"name": "tasks.add", "args": [2, 3], "options": {"queue": "sec-go"}}]`)
	}
	if state, result := send(pyClient); state != "SUCCESS" || result != float64(5) {
		t.Errorf("signed by a trusted key: %s %v", state, result)
	}
	if state, result := send(mallory); state != "FAILURE" || !strings.Contains(fmt.Sprint(result), "SecurityError") {
		t.Errorf("signed by an unknown key: %s %v", state, result)
	}
	// The Go worker signs its retry with its own key.
	if state, result := sendTask(pyClient, `[{"name": "tasks.flaky", "args": ["sec", 1], "options": {"queue": "sec-go"}}]`); state != "SUCCESS" || result != float64(2) {
		t.Errorf("signed retry: %s %v", state, result)
	}
	ctx := ctxFor(t, time.Minute)
	var te *celery.TaskError
	res, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(2, 3), celery.Queue("sec-go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Get(ctx, nil); !errors.As(err, &te) || te.Type != "ContentDisallowed" {
		t.Errorf("unsigned: %v", err)
	}

	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("sec-py"), pypeer.WithEnv(pyEnv(pyClient)...))
	signer, err := security.LoadSigner(goClient.Key, goClient.Cert, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	for _, ser := range []string{"json", "msgpack"} {
		res, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(2, 3), celery.Queue("sec-py"), celery.Signed(signer), celery.Serializer(ser))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := res.Get(ctx, &n); err != nil || n != 5 {
			t.Errorf("Go-signed %s to Python: %d, %v", ser, n, err)
		}
	}
}

// `celeriac events` reads a Python worker's events sent with
// event_serializer msgpack.
func TestCodecEventsMsgpack(t *testing.T) {
	e := newEnv(t)
	ev := startBinary(t, "", "events", "--json", "--broker", e.URL)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues("ev-py"), pypeer.WithEvents(),
		pypeer.WithEnv("CELERIAC_EVENT_SERIALIZER=msgpack", "CELERIAC_ACCEPT_CONTENT=json,msgpack"))
	ctx := ctxFor(t, time.Minute)
	res, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(2, 3), celery.Queue("ev-py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Python worker's msgpack task-succeeded in `celeriac events`", 15*time.Second, func() bool {
		for line := range strings.Lines(ev.Log()) {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["type"] == "task-succeeded" && m["uuid"] == res.ID && m["hostname"] == py.NodeName() {
				return true
			}
		}
		return false
	})
}
