//go:build integration

package integration

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/internal/redistest"
)

// runBinary runs celeriac to completion and returns its combined output
// and exit code.
func runBinary(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx := ctxFor(t, timeout)
	cmd := exec.CommandContext(ctx, binary, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("celeriac %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// TestSecurityTLS: a redis-server that speaks only TLS and requires client
// certificates from the test's CA; a Go worker (the binary) and Python
// Celery both use one rediss:// URL with kombu's ssl_* options, and the
// Go worker runs a task Python sent. Without the client certificate, or
// with a CA that does not match, the worker exits with one clear line.
func TestSecurityTLS(t *testing.T) {
	ca := redistest.NewCA(t)
	port := redistest.Start(t, redistest.WithTLS(ca, true)).TLSPort()
	base := fmt.Sprintf("rediss://127.0.0.1:%d/0?ssl_cert_reqs=required&ssl_ca_certs=%s", port, ca.CA)
	url := base + "&ssl_certfile=" + ca.ClientCert + "&ssl_keyfile=" + ca.ClientKey

	startBinary(t, "worker ready", "worker", "--broker", url, "-c", "2", "-n", "go-tls@celeriac", "--result-extended")
	r := pyGet(t, url, pySend(t, url, "tasks.add", "--args", "[20, 22]"))
	if r.State != "SUCCESS" || r.Result != 42.0 || r.Worker != "go-tls@celeriac" {
		t.Errorf("over TLS: %s %v by %q", r.State, r.Result, r.Worker)
	}

	t.Run("refused", func(t *testing.T) {
		other := redistest.NewCA(t)
		for name, u := range map[string]string{
			"no client certificate": base,
			"unknown server CA":     fmt.Sprintf("rediss://127.0.0.1:%d/0?ssl_cert_reqs=required&ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", port, other.CA, ca.ClientCert, ca.ClientKey),
		} {
			out, code := runBinary(t, 30*time.Second, "worker", "--broker", u, "-n", "go-refused@celeriac")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code == 0 || len(lines) != 1 || !strings.Contains(out, "refused the connection") {
				t.Errorf("%s: exit %d, want one line and a non-zero exit:\n%s", name, code, out)
			}
		}
	})
}

// TestSecurityACL: Redis AUTH with an ACL user (redis://user:pass@) and
// with the default user's password (redis://:pass@); Python sends, the Go
// worker runs. A wrong password exits non-zero with one line. The
// password never shows: not in any output of worker, serve, call,
// inspect stats/conf, nor in the API's /api/v1/workers.
func TestSecurityACL(t *testing.T) {
	const aclPass, defPass, wrongPass = "acl-Pa55-7f3e91", "def-Pa55-c0ffee", "Wr0ng-Pa55-d00d"
	srv := redistest.Start(t)
	c := srv.Dial(t)
	if _, err := c.Do("ACL", "SETUSER", "celeriac", "on", ">"+aclPass, "~*", "&*", "+@all"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do("CONFIG", "SET", "requirepass", defPass); err != nil {
		t.Fatal(err)
	}
	host := srv.Addr()
	aclURL := "redis://celeriac:" + aclPass + "@" + host + "/0"
	defURL := "redis://:" + defPass + "@" + host + "/0"
	secrets := []string{aclPass, defPass, wrongPass}
	leaks := func(what, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s shows a password:\n%s", what, out)
			}
		}
	}

	w := startBinary(t, "worker ready", "worker", "--broker", aclURL, "-c", "2", "-n", "go-acl@celeriac", "--result-extended", "--loglevel", "debug")
	for _, u := range []string{aclURL, defURL} {
		r := pyGet(t, u, pySend(t, u, "tasks.add", "--args", "[40, 2]"))
		if r.State != "SUCCESS" || r.Result != 42.0 || r.Worker != "go-acl@celeriac" {
			t.Errorf("with %s: %s %v by %q", redactForLog(u), r.State, r.Result, r.Worker)
		}
	}
	out, code := runBinary(t, 30*time.Second, "call", "tasks.add", "--args", "[1, 2]", "--wait", "--broker", defURL)
	if code != 0 || !strings.Contains(out, "3") {
		t.Errorf("call with the default user's password: exit %d: %s", code, out)
	}
	leaks("call", out)
	for _, cmd := range []string{"stats", "conf", "report"} {
		out, code := runBinary(t, 30*time.Second, "inspect", cmd, "--broker", aclURL, "--timeout", "2")
		if code != 0 || !strings.Contains(out, "go-acl@celeriac") {
			t.Errorf("inspect %s: exit %d: %s", cmd, code, out)
		}
		leaks("inspect "+cmd, out)
	}

	t.Run("wrong password", func(t *testing.T) {
		for _, u := range []string{
			"redis://celeriac:" + wrongPass + "@" + host + "/0",
			"redis://:" + wrongPass + "@" + host + "/0",
		} {
			for _, args := range [][]string{
				{"worker", "--broker", u},
				{"serve", "--broker", u, "--addr", "127.0.0.1:0"},
				{"call", "tasks.add", "--args", "[1, 2]", "--broker", u},
				{"inspect", "ping", "--broker", u},
			} {
				out, code := runBinary(t, 30*time.Second, args...)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if code == 0 || len(lines) != 1 || !strings.Contains(out, "WRONGPASS") {
					t.Errorf("%s: exit %d, want one line and a non-zero exit:\n%s", args[0], code, out)
				}
				leaks(args[0]+" with a wrong password", out)
			}
		}
	})

	t.Run("serve", func(t *testing.T) {
		s := startBinary(t, "celeriac is serving", "serve", "--broker", aclURL, "--addr", "127.0.0.1:0", "--worker=false",
			"--rate-limit", "0.2", "--rate-burst", "3")
		api := regexp.MustCompile(`API:\s+(http://\S+)`).FindStringSubmatch(s.Log())
		if api == nil {
			t.Fatalf("no API address in:\n%s", s.Log())
		}
		get := func(path string) (*http.Response, string) {
			resp, err := http.Get(api[1] + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, string(b)
		}
		resp, body := get("/api/v1/workers")
		if resp.StatusCode != 200 || !strings.Contains(body, "go-acl@celeriac") {
			t.Errorf("/api/v1/workers = %d %s", resp.StatusCode, body)
		}
		leaks("/api/v1/workers", body)
		// The rate limit: a burst of 3, then 429 with Retry-After.
		var limited *http.Response
		for range 5 {
			if r, b := get("/task-status/abc"); r.StatusCode == 429 {
				limited = r
				if !strings.Contains(b, `"detail"`) {
					t.Errorf("429 body %s", b)
				}
				break
			}
		}
		if limited == nil || limited.Header.Get("Retry-After") == "" {
			t.Errorf("no 429 with Retry-After after the burst: %v", limited)
		}
		if r, _ := get("/healthz"); r.StatusCode != 200 {
			t.Errorf("/healthz limited: %d", r.StatusCode)
		}
		leaks("serve output", s.Log())
	})
	leaks("worker output", w.Log())
	if !strings.Contains(w.Log(), "celeriac:***@") {
		t.Errorf("the worker does not show its broker, masked:\n%s", w.Log())
	}
}

func redactForLog(u string) string {
	if i := strings.LastIndex(u, "@"); i >= 0 {
		return "redis://***" + u[i:]
	}
	return u
}
