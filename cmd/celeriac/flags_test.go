package main

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type testFlags struct {
	broker, queues string
	concurrency    int
	events, json   bool
	timeout        time.Duration
	level          string
}

func newTestFlagSet(f *testFlags) *flagSet {
	fs := newFlagSet("test")
	fs.String(&f.broker, "b broker", "", "")
	fs.String(&f.queues, "Q queues", "celery", "")
	fs.Count(&f.concurrency, "c concurrency", 0, "")
	fs.Bool(&f.events, "E events task-events", false, "")
	fs.Bool(&f.json, "j json", false, "")
	fs.Duration(&f.timeout, "t timeout", time.Second, "")
	fs.Choice(&f.level, "l loglevel", "info", logLevels(), "")
	return fs
}

// TestFlagSetParse: Celery's and GNU's spellings all set the same flags,
// and positional arguments may sit anywhere.
func TestFlagSetParse(t *testing.T) {
	for _, tc := range []struct {
		args string
		want testFlags
		pos  []string
	}{
		{"", testFlags{queues: "celery", timeout: time.Second, level: "info"}, nil},
		{"-c 4 -Q a,b -E -l INFO", testFlags{queues: "a,b", concurrency: 4, events: true, timeout: time.Second, level: "info"}, nil},
		{"--concurrency=4 --queues a,b --events --loglevel=Warning", testFlags{queues: "a,b", concurrency: 4, events: true, timeout: time.Second, level: "warning"}, nil},
		{"-c4 -Qa --task-events", testFlags{queues: "a", concurrency: 4, events: true, timeout: time.Second, level: "info"}, nil},
		{"-c=4 -Ej", testFlags{queues: "celery", concurrency: 4, events: true, json: true, timeout: time.Second, level: "info"}, nil},
		{"-jc 3", testFlags{queues: "celery", concurrency: 3, json: true, timeout: time.Second, level: "info"}, nil},
		{"-broker redis://x -concurrency 2", testFlags{broker: "redis://x", queues: "celery", concurrency: 2, timeout: time.Second, level: "info"}, nil},
		{"ping -t 40 x --json y", testFlags{queues: "celery", json: true, timeout: 40 * time.Second, level: "info"}, []string{"ping", "x", "y"}},
		{"--timeout 1.5", testFlags{queues: "celery", timeout: 1500 * time.Millisecond, level: "info"}, nil},
		{"--timeout=2m", testFlags{queues: "celery", timeout: 2 * time.Minute, level: "info"}, nil},
		{"--json=false -E=true", testFlags{queues: "celery", events: true, timeout: time.Second, level: "info"}, nil},
		{"autoscale -5 3", testFlags{queues: "celery", timeout: time.Second, level: "info"}, []string{"autoscale", "-5", "3"}},
		{"a -- --json -c", testFlags{queues: "celery", timeout: time.Second, level: "info"}, []string{"a", "--json", "-c"}},
		{"- x", testFlags{queues: "celery", timeout: time.Second, level: "info"}, []string{"-", "x"}},
	} {
		t.Run(tc.args, func(t *testing.T) {
			var f testFlags
			fs := newTestFlagSet(&f)
			if err := fs.Parse(strings.Fields(tc.args)); err != nil {
				t.Fatalf("Parse(%q): %v", tc.args, err)
			}
			if diff := cmp.Diff(tc.want, f, cmp.AllowUnexported(testFlags{})); diff != "" {
				t.Errorf("Parse(%q) flags (-want +got):\n%s", tc.args, diff)
			}
			if !slices.Equal(fs.Args(), tc.pos) {
				t.Errorf("Parse(%q) args = %q, want %q", tc.args, fs.Args(), tc.pos)
			}
		})
	}
}

func TestFlagSetErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--concurency 4", "unknown flag --concurency (did you mean --concurrency?)"},
		{"--event", "unknown flag --event (did you mean --events?)"},
		{"--tim 3", "unknown flag --tim (did you mean --timeout?)"},
		{"--bogus", "unknown flag --bogus"},
		{"-concurency 4", "unknown flag -concurency (did you mean --concurrency?)"},
		{"-c4x", `invalid value "4x" for -c: want an integer`},
		{"-x", "unknown flag -x"},
		{"-Ex", "unknown flag -x"},
		{"-c", "flag -c needs a value"},
		{"--broker", "flag --broker needs a value"},
		{"-c -1", `invalid value "-1" for -c: must not be negative`},
		{"--timeout soon", `invalid value "soon" for --timeout: want seconds (3, 0.5) or a duration (3s, 1m)`},
		{"-l loud", `invalid value "loud" for -l: want one of debug, info, warning, warn, error, critical, fatal`},
		{"--json=maybe", `invalid value "maybe" for --json: want true or false`},
	} {
		var f testFlags
		err := newTestFlagSet(&f).Parse(strings.Fields(tc.args))
		var ue *usageError
		if !errors.As(err, &ue) || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v, want usage error %q", tc.args, err, tc.want)
		}
	}
	for _, args := range []string{"-h", "--help", "-Eh", "x --help"} {
		var f testFlags
		if err := newTestFlagSet(&f).Parse(strings.Fields(args)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Parse(%q) = %v, want flag.ErrHelp", args, err)
		}
	}
}

func TestFlagSetHelp(t *testing.T) {
	var f testFlags
	fs := newTestFlagSet(&f)
	var b bytes.Buffer
	fs.PrintHelp(&b)
	for _, want := range []string{
		"  -c, --concurrency int\n",
		"  -E, --events, --task-events\n",
		"  -t, --timeout duration\n    \t (default 1s)\n",
		"  -Q, --queues string\n    \t (default \"celery\")\n",
		"  -h, --help\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, b.String())
		}
	}
}

// TestCommandsHelp: every command answers --help with exit 0 on stdout,
// listing both spellings of Celery's flags.
func TestCommandsHelp(t *testing.T) {
	want := map[string][]string{
		"worker":  {"-c, --concurrency", "-n, --hostname", "-Q, --queues", "-E, --events, --task-events", "-l, --loglevel", "-A, --app", "-P, --pool", "-O, --optimization", "--without-heartbeat", "--without-gossip", "--without-mingle", "--time-limit duration", "--soft-time-limit duration", "--max-tasks-per-child", "--pidfile", "-f, --logfile", "-X, --exclude-queues"},
		"inspect": {"-d, --destination", "-t, --timeout duration", "-j, --json", "-b, --broker", "--result-backend"},
		"control": {"-s, --signal"},
		"call":    {"-a, --args", "-k, --kwargs", "--countdown duration", "--serializer"},
		"result":  {"-t, --task", "--traceback", "--timeout duration"},
		"beat":    {"-s, --schedule"},
		"serve":   {"-c, --concurrency", "--max-wait duration", "--worker\n    \trun a Go worker with the built-in tasks in this process (default true)"},
	}
	for _, c := range commands() {
		var out, errb bytes.Buffer
		name := c.name
		if name == "run" {
			name = "serve"
		}
		if code := run([]string{c.name, "--help"}, &out, &errb); code != 0 || errb.Len() != 0 || !strings.HasPrefix(out.String(), "usage: celeriac "+name) {
			t.Errorf("celeriac %s --help = %d, stdout %q, stderr %q", c.name, code, out.String(), errb.String())
		}
		for _, w := range want[c.name] {
			if !strings.Contains(out.String(), "  "+w) {
				t.Errorf("celeriac %s --help lacks %q", c.name, w)
			}
		}
	}
}

// TestGlobalFlags: Celery's options before the command reach it.
func TestGlobalFlags(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"-A", "proj", "-b", "sqs://x", "worker"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "unsupported scheme") {
		t.Errorf("celeriac -A proj -b sqs://x worker = %d, %q; want the broker URL refused", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "celeriac ") || !strings.Contains(out.String(), "commit ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("celeriac --version = %d, %q", code, out.String())
	}
}
