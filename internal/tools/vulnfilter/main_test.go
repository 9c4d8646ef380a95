package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	const (
		stdlib   = `{"finding": {"osv": "GO-1", "fixed_version": "v1.26.9", "trace": [{"module": "stdlib", "version": "v1.26.8", "package": "net/http", "function": "Get"}]}}`
		imported = `{"finding": {"osv": "GO-2", "fixed_version": "v0.60.0", "trace": [{"module": "golang.org/x/net", "version": "v0.59.0", "package": "golang.org/x/net/http2"}]}}`
		called   = `{"finding": {"osv": "GO-3", "fixed_version": "v0.60.0", "trace": [{"module": "golang.org/x/net", "version": "v0.59.0", "package": "golang.org/x/net/http2", "function": "Read"}]}}`
	)
	for _, tc := range []struct {
		in   string
		code int
		want string
	}{
		{`{"config": {}}`, 0, "no called vulnerabilities"},
		{imported, 0, "no called vulnerabilities"},
		{stdlib + stdlib + imported, 1, "GO-1 in stdlib@v1.26.8 (net/http.Get), fixed by go.mod: toolchain go1.26.9"},
		{stdlib + called, 1, "GO-3 in golang.org/x/net@v0.59.0 (golang.org/x/net/http2.Read), fixed by go get golang.org/x/net@v0.60.0"},
	} {
		var out strings.Builder
		code, err := run(strings.NewReader(tc.in), &out)
		if err != nil || code != tc.code || !strings.Contains(out.String(), tc.want) || strings.Count(out.String(), "GO-1") > 1 {
			t.Errorf("run(%.40q) = %d, %v:\n%s", tc.in, code, err, out.String())
		}
	}
	if _, err := run(strings.NewReader("{"), &strings.Builder{}); err == nil {
		t.Error("truncated input accepted")
	}
}
