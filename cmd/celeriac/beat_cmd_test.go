package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/beat"
)

func TestBeatErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "schedule.yaml")
	os.WriteFile(bad, []byte("entries:\n  cleanup:\n    task: t\n    crontab: {minute: 61}\n"), 0o644)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("entries:\n  a: {task: t, every: 1s}\n"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"beat"}, 2, "--schedule: a schedule file is required"},
		{[]string{"beat", "--schedule", bad}, 1, `beat: schedule.yaml: entry "cleanup": field minute: value 61 out of range 0-59`},
		{[]string{"beat", "--schedule", filepath.Join(dir, "missing.yaml")}, 1, "no such file"},
		{[]string{"beat", "--schedule", good, "--catch-up", "twice"}, 2, `--catch-up: catch_up "twice"`},
		{[]string{"beat", "--schedule", good, "--lease", "1ms"}, 1, "lease 1ms"},
		{[]string{"beat", "--schedule", good, "--dry-run", "-n", "0"}, 2, "-n: want at least 1"},
		{[]string{"beat", "--schedule", good, "--broker", "amqp://x"}, 2, "set --result-backend redis://"},
		{[]string{"beat", "--schedule", good, "--broker", "amqp://x", "--result-backend", "amqp://x"}, 2, "set --result-backend redis://"},
		{[]string{"beat", "--schedule", good, "--broker", "amqp://x", "--result-backend", "redis://127.0.0.1:1/0", "--queue-max-priority", "300"}, 2, "--queue-max-priority"},
		{[]string{"beat", "--schedule", good, "--broker", "sqs://x"}, 1, "unsupported scheme"},
		{[]string{"beat", "--lease", "soon"}, 2, "invalid value"},
		{[]string{"beat", "-s", good, "--dry-run", "-n", "1"}, 0, ""},
		{[]string{"beat", "--schedule", good, "--broker", "redis://127.0.0.1:1/0", "--metrics-addr", "nonsense"}, 1, "--metrics-addr"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
				t.Errorf("run(%q) = %d, stderr %q; want %d containing %q", tc.args, code, errb.String(), tc.code, tc.msg)
			}
			if strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 {
				t.Errorf("error is not one line: %q", errb.String())
			}
		})
	}
}

func TestBeatDryRun(t *testing.T) {
	cfg, err := beat.ParseConfig("s.yaml", []byte(`
timezone: America/New_York
entries:
  nightly: {task: tasks.report, cron: "30 1 * * *"}
  ping: {task: tasks.add, every: 90s}
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	now := time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC)
	if err := dryRun(&out, cfg, 2, now); err != nil {
		t.Fatal(err)
	}
	want := `nightly  tasks.report  crontab(30 1 * * *) America/New_York
  Sun 2026-11-01 01:30:00 EDT  2026-11-01T05:30:00Z
  Mon 2026-11-02 01:30:00 EST  2026-11-02T06:30:00Z
ping  tasks.add  every 1m30s
  Sat 2026-10-31 08:01:30 EDT  2026-10-31T12:01:30Z
  Sat 2026-10-31 08:03:00 EDT  2026-10-31T12:03:00Z
`
	if out.String() != want {
		t.Errorf("dry run:\n%s\nwant:\n%s", out.String(), want)
	}
}
