package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery/events"
)

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want, text string }{
		{"celery@host", "celery@host", "celery@host"},
		{"é ünïcode", "é ünïcode", "é ünïcode"},
		{"evil\x1b[2J", `"evil\x1b[2J"`, `evil\x1b[2J`},
		{"a\nb\tc", `"a\nb\tc"`, "a\nb\tc"},
		{"a\rb", `"a\rb"`, `a\rb`},
		{"bad\xffbyte", `"bad\xffbyte"`, `bad\xffbyte`},
		{"line\u2028sep", `"line\u2028sep"`, `line\u2028sep`},
		{"bell\a", `"bell\a"`, `bell\a`},
	} {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if got := printableText(tc.in); got != tc.text {
			t.Errorf("printableText(%q) = %s, want %s", tc.in, got, tc.text)
		}
	}
}

// TestFormatEventEscapes: a forged event cannot put control characters
// or extra lines on the terminal (issue 16 item 13).
func TestFormatEventEscapes(t *testing.T) {
	e := events.Event{
		"type": "worker-heartbeat\x1b[31m", "hostname": "evil\x1b[2J\nfake@line",
		"timestamp": float64(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix()),
		"freq":      2.0, "sw_ident": "py\rcelery", "k\x07": []any{"a\nb"},
	}
	got := formatEvent(e)
	want := `"evil\x1b[2J\nfake@line" [2026-01-02 03:04:05.000000] "worker-heartbeat\x1b[31m": freq=2, "k\a"="[a\nb]", sw_ident="py\rcelery"`
	if got != want {
		t.Errorf("formatEvent =\n%s\nwant\n%s", got, want)
	}
	var b bytes.Buffer
	printReplies(&b, map[string]any{"evil\x1b]0;x\a@h": map[string]any{"ok": "pong\x1b[2J"}, "w@h": []any{"task\nforged"}})
	if strings.ContainsAny(b.String(), "\x1b\a") || strings.Contains(b.String(), "\nforged") {
		t.Errorf("printReplies printed control characters:\n%q", b.String())
	}
}
