package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/celeriac/celeriac/internal/logbuf"
)

func TestAPIToken(t *testing.T) {
	for _, tc := range []struct {
		env, want, log, err string
	}{
		{"", "", "", ""},
		{"s3cret", "s3cret", "", ""},
		{"s3cret\n", "s3cret", "it was trimmed", ""},
		{"  s3cret \r\n", "s3cret", "trimmed_bytes=5", ""},
		{" \n", "", "", "set but blank"},
	} {
		t.Setenv("CELERIAC_API_TOKEN", tc.env)
		var buf logbuf.Buffer
		got, err := apiToken(slog.New(slog.NewTextHandler(&buf, nil)))
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("apiToken(%q) = %q, %v; want %q, error %q", tc.env, got, err, tc.want, tc.err)
		}
		if !strings.Contains(buf.String(), tc.log) || tc.log == "" && buf.String() != "" {
			t.Errorf("apiToken(%q) logged %q, want %q", tc.env, buf.String(), tc.log)
		}
	}
}
