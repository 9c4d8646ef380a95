//go:build integration

package amqp

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/certtest"
	"github.com/celeriac/celeriac/internal/pypeer"
)

// TestNodeRestartMidDrain: the RabbitMQ node stops and starts again while
// a Go worker with --acks-late drains 1,000 tasks a Python client
// published. kombu publishes persistent messages to a durable queue, so
// they survive the restart, and the ones the worker held unacknowledged
// come back: every task gets its result (some run twice: at least once),
// the queue ends empty, and the worker logs the loss once and the
// recovery once.
func TestNodeRestartMidDrain(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 6*time.Minute)
	const n = 1000
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = map[string]any{"name": "tasks.sleep", "args": []any{0.02}}
	}
	cmd := e.py()
	cmd.Stdin = []byte(toJSON(t, items))
	var ids []string
	cmd.RunJSON(t, &ids, "client.py", "raw-publish")
	if len(ids) != n {
		t.Fatalf("published %d tasks, want %d", len(ids), n)
	}
	// kombu's defaults: a durable queue, persistent messages.
	out, err := node.Ctl(ctx, "list_queues", "-q", "-p", vhostOf(e.URL), "name", "durable", "messages_persistent")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "celery\ttrue\t"+strconv.Itoa(n)) {
		t.Fatalf("the celery queue is not durable with %d persistent messages:\n%s", n, out)
	}
	w := e.startWorker(t, "--acks-late", "-c", "4", "-n", "steadfast@%h")
	e.waitBelow(ctx, t, "celery", n*3/4)
	if err := node.Stop(); err != nil {
		t.Fatal(err)
	}
	w.WaitLog(t, "broker connection lost", time.Minute)
	if err := node.Start(); err != nil {
		t.Fatalf("%v\n%s", err, node.Log())
	}
	for _, id := range ids {
		meta, err := e.Client.AsyncResult(id).Wait(ctx)
		if err != nil || meta.Status != celery.StateSuccess {
			t.Fatalf("%s: %+v, %v", id, meta, err)
		}
	}
	if left, err := e.Broker.QueueLength(ctx, "celery"); err != nil || left != 0 {
		t.Errorf("queue length after the drain: %d, %v", left, err)
	}
	w.WaitLog(t, "broker connection restored", time.Minute)
	log := w.Log()
	if c := strings.Count(log, "broker connection lost"); c != 1 {
		t.Errorf("%d lines say the connection was lost, want 1", c)
	}
	if c := strings.Count(log, "broker connection restored"); c != 1 {
		t.Errorf("%d lines say the connection was restored, want 1", c)
	}
	t.Logf("ran %d tasks %d times", n, strings.Count(log, "succeeded in"))
}

// TestAMQPSClientCertificates: the node's AMQPS listener requires a client
// certificate. A Go worker reaches it with the certificate and the CA in
// the amqps:// URL's ssl_ options, and runs a task a Python client sent
// over AMQPS (py-amqp with broker_use_ssl); RabbitMQ reports both
// connections as TLS with the client certificate. A wrong CA, or no
// client certificate, is a one-line error at once.
func TestAMQPSClientCertificates(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 3*time.Minute)
	vhost := vhostOf(e.URL)
	url := node.TLSURL(vhost)
	files := node.TLS()
	w := startCeleriac(t, "worker", "-b", url, "--result-backend", e.Results, "--loglevel", "info", "--result-extended", "-n", "sealed@%h")
	w.WaitLog(t, "ready", 60*time.Second)

	sslOpts, _ := json.Marshal(map[string]string{"ca_certs": files.CA, "certfile": files.ClientCert,
		"keyfile": files.ClientKey, "cert_reqs": "CERT_REQUIRED"})
	py := pypeer.Cmd{BrokerURL: "amqps://guest:guest@127.0.0.1:" + strconv.Itoa(node.TLSPort()) + "/" + vhost,
		ResultBackend: e.Results, Env: []string{"CELERIAC_BROKER_USE_SSL=" + string(sslOpts)}}
	var sent struct {
		ID string `json:"id"`
	}
	py.RunJSON(t, &sent, "client.py", "send", "tasks.add", "--args", "[2, 3]")
	r := e.pyGet(t, sent.ID)
	if r.State != "SUCCESS" || r.Result != float64(5) || !strings.HasPrefix(r.Worker, "sealed@") {
		t.Fatalf("tasks.add over AMQPS: %+v", r)
	}
	out, err := node.Ctl(ctx, "list_connections", "-q", "vhost", "ssl", "peer_cert_subject")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] != vhost {
			continue
		}
		seen++
		if f[1] != "true" || !strings.Contains(f[2], "CN=client") {
			t.Errorf("a connection of the worker is not TLS with the client certificate: %q", line)
		}
	}
	if seen == 0 {
		t.Errorf("no connection on vhost %s:\n%s", vhost, out)
	}

	other, err := certtest.NewCA(t.TempDir(), "stranger")
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"wrong CA":              strings.Replace(url, "ssl_ca_certs="+files.CA, "ssl_ca_certs="+other.Cert, 1),
		"no client certificate": strings.Split(url, "&ssl_certfile=")[0],
	} {
		out, code := celeriac(t, "worker", "-b", bad, "--result-backend", e.Results)
		out = strings.TrimSpace(out)
		last := out[strings.LastIndex(out, "\n")+1:]
		if code == 0 || !strings.Contains(last, "certificate") || !strings.HasPrefix(last, "celeriac worker: ") {
			t.Errorf("%s: exit %d, last line %q; want a one-line certificate error\n%s", name, code, last, out)
		}
	}
}

// TestURLOptionsAndFailover: a broker URL list whose first alternative
// does not answer (a closed port) fails over to the second, and the
// second's query options reach RabbitMQ: heartbeat=7 is the connection's
// negotiated heartbeat (RabbitMQ proposes 60 s; the smaller wins).
func TestURLOptionsAndFailover(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	dead := "amqp://guest:guest@127.0.0.1:1/" + vhostOf(e.URL) + "?connect_timeout=1"
	url := dead + ";" + e.URL + "?heartbeat=7&connect_timeout=3"
	w := startCeleriac(t, "worker", "-b", url, "--result-backend", e.Results, "--loglevel", "info", "-n", "twice@%h")
	w.WaitLog(t, "ready", 60*time.Second)
	// A Python client: the test's Go client would add connections of its
	// own to the vhost.
	if r := e.pyGet(t, e.pySend(t, "tasks.add", "--args", "[20, 22]")); r.State != "SUCCESS" || r.Result != float64(42) {
		t.Fatalf("tasks.add through the second URL: %+v", r)
	}
	out, err := node.Ctl(ctx, "list_connections", "-q", "vhost", "timeout", "client_properties")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 || f[0] != vhostOf(e.URL) || !strings.Contains(f[2], "celeriac") {
			continue
		}
		seen++
		if f[1] != "7" {
			t.Errorf("heartbeat of a worker connection: %s s, want 7", f[1])
		}
	}
	if seen == 0 {
		t.Errorf("no celeriac connection on the vhost:\n%s", out)
	}
}
