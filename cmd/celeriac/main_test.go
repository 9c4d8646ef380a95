package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/logbuf"
)

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"worker", "--no-such-flag"}, 2, "unknown flag --no-such-flag"},
		{[]string{"worker", "--concurency", "4"}, 2, "unknown flag --concurency (did you mean --concurrency?)"},
		{[]string{"worker", "--queue", "a"}, 2, "did you mean --queues?"},
		{[]string{"worker", "--broker", "sqs://x"}, 1, "unsupported scheme"},
		{[]string{"call", "tasks.add", "--broker", "redis://127.0.0.1:1/0", "--result-backend", "rpc://"}, 1, "rpc:// needs an AMQP broker"},
		{[]string{"call", "tasks.add", "--broker", "redis://127.0.0.1:1/0", "--result-backend", "rpc"}, 1, "rpc:// needs an AMQP broker"},
		{[]string{"result", "some-id", "--wait", "--broker", "amqp://127.0.0.1:1/", "--result-backend", "rpc://"}, 1, "can never receive it"},
		{[]string{"call", "tasks.add", "--broker", "amqp://127.0.0.1:1/", "--result-backend", "amqp://127.0.0.1:2/"}, 1, "use rpc://"},
		{[]string{"worker", "--loglevel", "loud"}, 2, `invalid value "loud" for --loglevel`},
		{[]string{"worker", "-l", "LOUD"}, 2, `invalid value "LOUD" for -l`},
		{[]string{"worker", "-c", "-1"}, 2, `invalid value "-1" for -c: must not be negative`},
		{[]string{"worker", "-c-1"}, 2, "must not be negative"},
		{[]string{"worker", "--concurrency=many"}, 2, "want an integer"},
		{[]string{"worker", "--prefetch-multiplier", "-2"}, 2, "must not be negative"},
		{[]string{"worker", "--time-limit", "soon"}, 2, `invalid value "soon" for --time-limit`},
		{[]string{"worker", "--time-limit", "-1"}, 2, "--time-limit must not be negative"},
		{[]string{"worker", "--autoscale", "ten"}, 2, "--autoscale: want non-negative integers"},
		{[]string{"worker", "--autoscale", "1,2,3"}, 2, "--autoscale: want max,min or max"},
		{[]string{"worker", "--autoscale", "0"}, 2, "--autoscale: the maximum must be at least 1"},
		{[]string{"worker", "--soft-shutdown-timeout", "-1"}, 2, "--soft-shutdown-timeout must not be negative"},
		{[]string{"worker", "-O", "fast"}, 2, "want one of default, fair"},
		{[]string{"worker", "-P", "fork"}, 2, "want one of prefork"},
		{[]string{"worker", "-Q", "a", "-X", "a"}, 2, "no queues left"},
		{[]string{"worker", "-B"}, 2, "celeriac beat"},
		{[]string{"worker", "--broker"}, 2, "flag --broker needs a value"},
		{[]string{"worker", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-x", "worker"}, 2, "before the command"},
		{[]string{"call"}, 2, "want exactly one task name"},
		{[]string{"call", "tasks.add", "--args", "{"}, 2, "--args"},
		{[]string{"call", "tasks.add", "--args", "{}"}, 2, "want a JSON array"},
		{[]string{"call", "tasks.add", "--expires", "soon"}, 2, "--expires"},
		{[]string{"call", "tasks.add", "--serializer", "pickle"}, 2, "want one of json, msgpack, yaml"},
		{[]string{"call", "tasks.add", "--compression", "snappy"}, 2, `invalid value "snappy" for --compression`},
		{[]string{"call", "tasks.add", "--protocol", "3"}, 2, "--protocol: want 1 or 2"},
		{[]string{"worker", "--accept-content", "json,pickle"}, 2, "pickle is never accepted"},
		{[]string{"worker", "--accept-content", "bson"}, 2, "--accept-content"},
		{[]string{"worker", "--security-key", "k.pem"}, 2, "--security-key and --security-certificate go together"},
		{[]string{"worker", "--security-digest", "md5"}, 2, "--security-digest"},
		{[]string{"call", "tasks.add", "--security-certificate", "c.pem"}, 2, "--security-key and --security-certificate go together"},
		{[]string{"worker", "--result-serializer", "pickle"}, 2, `invalid value "pickle" for --result-serializer`},
		{[]string{"call", "tasks.add", "--countdown", "x"}, 2, "--countdown"},
		{[]string{"result"}, 2, "want exactly one task id"},
		{[]string{"result", "x", "--timeout", "soon"}, 2, `invalid value "soon" for --timeout`},
		{[]string{"inspect", "pong"}, 2, `unknown inspect method "pong"`},
		{[]string{"inspect", "ping", "-t", "0"}, 2, "--timeout must be positive"},
		{[]string{"inspect", "ping", "--timeout", "x"}, 2, "--timeout"},
		{[]string{"control", "rate_limit", "tasks.add"}, 2, "rate_limit: want"},
		{[]string{"control", "bogus"}, 2, `unknown control method "bogus"`},
		{[]string{"serve", "--rate-limit", "-1"}, 2, "must not be negative"},
		{[]string{"beat", "--lease", "x"}, 2, "--lease"},
		{[]string{"probe"}, 2, "want exactly one URL"},
		{[]string{"purge", "--broker", "redis://h:notaport"}, 1, "port"},
		{[]string{"worker", "--broker", "amqp://h//?heartbeat=soon"}, 2, "heartbeat"},
		{[]string{"purge", "--broker", "amqp://h//?hearbeat=10"}, 2, `unknown option "hearbeat"`},
		{[]string{"inspect", "ping", "--broker", "amqps://u:pw@h//?ssl_ca_certs=/nonexistent.pem"}, 2, "ssl_ca_certs"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
				t.Errorf("run(%q) = %d, stderr %q; want %d containing %q", tc.args, code, errb.String(), tc.code, tc.msg)
			}
			if tc.code != 0 && !strings.Contains(errb.String(), "commands:") && strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 {
				t.Errorf("error is not one line: %q", errb.String())
			}
		})
	}
}

// TestServeEmbedded is `make run` in miniature: the embedded broker, the
// Go worker and the API start, the URLs are printed, and a task sent
// through the API and one sent with a Go client both run.
func TestServeEmbedded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb logbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cmdServe(ctx, []string{"--embedded-addr", "127.0.0.1:0", "--addr", "127.0.0.1:0", "--loglevel", "warning"}, &out, &errb)
	}()
	var brokerURL, apiURL string
	for deadline := time.Now().Add(10 * time.Second); brokerURL == "" || apiURL == ""; {
		brokerURL, apiURL = bannerField(out.String(), "Broker:"), bannerField(out.String(), "API:")
		if time.Now().After(deadline) {
			t.Fatalf("no URLs printed: %s %s", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// make run says what the in-memory broker costs, and prints commands
	// that run as written.
	for _, want := range []string{"Ctrl-C discards queued\ntasks and results", "serve --broker redis://localhost:6379/0",
		".venv/bin/celery --broker=" + brokerURL + " flower", "call tasks.add --args '[2, 3]' --wait --broker " + brokerURL} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	c, err := credis.NewClient(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	res, err := c.SendTask(wctx, "tasks.add", celery.Args(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := res.Get(wctx, &sum); err != nil || sum != 5 {
		t.Fatalf("tasks.add via serve = %d, %v", sum, err)
	}

	// call --wait prints the id, then the result as JSON, unescaped (no
	// \u003c for <) and with big integers intact.
	var cout, cerr bytes.Buffer
	if code := run([]string{"call", "tasks.echo", "--args", `["<b>&", 1180591620717411303424]`, "--wait", "--broker", brokerURL}, &cout, &cerr); code != 0 {
		t.Fatalf("call --wait = %d: %s", code, cerr.String())
	}
	if !strings.Contains(cout.String(), `"<b>&"`) || !strings.Contains(cout.String(), "1180591620717411303424") || !strings.Contains(cout.String(), `"state": "SUCCESS"`) {
		t.Errorf("call --wait printed:\n%s", cout.String())
	}

	var sent struct {
		TaskID string `json:"task_id"`
	}
	getJSON(t, apiURL+"/run-task/?duration=0", &sent)
	var got struct {
		State  string
		Result string
	}
	getJSON(t, apiURL+"/api/v1/tasks/"+sent.TaskID+"?wait=10s", &got)
	if got.State != "SUCCESS" || got.Result != "Task completed in 0 seconds!" {
		t.Errorf("GET /api/v1/tasks/%s = %+v, want SUCCESS", sent.TaskID, got)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("cmdServe: %v", err)
	}
}

// bannerField returns the first field after label on a line of serve's
// banner ("  Broker:     redis://... (embedded...)"), or "".
func bannerField(banner, label string) string {
	for line := range strings.Lines(banner) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), label); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestExpandNodename(t *testing.T) {
	if got := expandNodename("w1"); !strings.HasPrefix(got, "celery@w1") && got != "celery@w1" {
		t.Errorf("expandNodename(w1) = %q", got)
	}
	if got := expandNodename("a@%h"); strings.Contains(got, "%") || !strings.HasPrefix(got, "a@") {
		t.Errorf("expandNodename(a@%%h) = %q", got)
	}
}

func TestProbe(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer ok.Close()
	for _, tc := range []struct {
		url  string
		code int
	}{{ok.URL + "/healthz", 0}, {ok.URL + "/down", 1}, {"http://127.0.0.1:1/", 1}} {
		var out, errb bytes.Buffer
		if code := run([]string{"probe", tc.url}, &out, &errb); code != tc.code {
			t.Errorf("probe %s = %d (%s), want %d", tc.url, code, errb.String(), tc.code)
		}
	}
}

// TestServeAddrWarning: the API on a non-loopback address without
// CELERIAC_API_TOKEN logs one warning; on loopback, or with a token, none.
func TestServeAddrWarning(t *testing.T) {
	const warning = "without CELERIAC_API_TOKEN"
	for _, tc := range []struct {
		addr, token string
		warns       bool
	}{
		{"0.0.0.0:0", "", true},
		{"127.0.0.1:0", "", false},
		{"0.0.0.0:0", "s3cret", false},
	} {
		t.Run(tc.addr+" token="+tc.token, func(t *testing.T) {
			t.Setenv("CELERIAC_API_TOKEN", tc.token)
			t.Setenv("CELERY_BROKER_URL", "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errb logbuf.Buffer
			done := make(chan error, 1)
			go func() {
				done <- cmdServe(ctx, []string{"--embedded-addr", "127.0.0.1:0", "--addr", tc.addr, "--worker=false"}, &out, &errb)
			}()
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "celeriac is serving"); {
				if time.Now().After(deadline) {
					t.Fatalf("not serving: %s %s", out.String(), errb.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(errb.String(), warning); (n == 1) != tc.warns || n > 1 {
				t.Errorf("%d warnings, want warns=%v:\n%s", n, tc.warns, errb.String())
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	b, err := marshalJSON(map[string]any{"s": "<b> & </b>"}, "")
	if err != nil || string(b) != `{"s":"<b> & </b>"}` {
		t.Errorf("marshalJSON = %s, %v", b, err)
	}
	if b, _ := marshalJSON([]int{1}, "  "); string(b) != "[\n  1\n]" {
		t.Errorf("indented = %q", b)
	}
}
