package beat

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const yamlConfig = `
timezone: Europe/Berlin
catch_up: skip
late_window: 2m
entries:
  ping:
    task: tasks.add
    every: 30s
    args: [2, 3]
  cleanup:
    task: tasks.cleanup
    crontab: {minute: "0", hour: "*/6", day_of_week: mon-fri}
    kwargs: {dry: false, paths: [/tmp, /var/tmp]}
    queue: maintenance
    priority: 7
    expires: 600
    options:
      headers: {team: ops}
      time_limit: 5m
      ignore_result: true
  report:
    task: tasks.report
    cron: "30 2 1 * *"
    timezone: America/New_York
`

const tomlConfig = `
timezone = "Europe/Berlin"
catch_up = "skip"
late_window = "2m"

[entries.ping]
task = "tasks.add"
every = "30s"
args = [2, 3]

[entries.cleanup]
task = "tasks.cleanup"
crontab = { minute = 0, hour = "*/6", day_of_week = "mon-fri" }
kwargs = { dry = false, paths = ["/tmp", "/var/tmp"] }
queue = "maintenance"
priority = 7
expires = 600
options = { headers = { team = "ops" }, time_limit = "5m", ignore_result = true }

[entries.report]
task = "tasks.report"
cron = "30 2 1 * *"
timezone = "America/New_York"
`

func TestParseConfig(t *testing.T) {
	for name, src := range map[string]string{"schedule.yaml": yamlConfig, "schedule.toml": tomlConfig} {
		t.Run(name, func(t *testing.T) {
			cfg, err := ParseConfig(name, []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Timezone.String() != "Europe/Berlin" || cfg.CatchUp != CatchUpSkip || cfg.LateWindow != 2*time.Minute {
				t.Errorf("settings: %v %v %v", cfg.Timezone, cfg.CatchUp, cfg.LateWindow)
			}
			if len(cfg.Entries) != 3 {
				t.Fatalf("%d entries", len(cfg.Entries))
			}
			c, p, r := cfg.Entries[0], cfg.Entries[1], cfg.Entries[2]
			if p.Name != "ping" || p.Schedule != Every(30*time.Second) || !cmp.Equal(p.Args, []any{int64(2), int64(3)}) {
				t.Errorf("ping: %+v", p)
			}
			if c.Name != "cleanup" || c.Schedule.String() != "crontab(0 */6 * * mon-fri) Europe/Berlin" ||
				c.Queue != "maintenance" || c.Priority != 7 || c.Expires != 10*time.Minute ||
				c.TimeLimit != 5*time.Minute || !c.IgnoreResult || c.Headers["team"] != "ops" ||
				c.Kwargs["dry"] != false || len(c.Kwargs["paths"].([]any)) != 2 {
				t.Errorf("cleanup: %+v (%v)", c, c.Schedule)
			}
			if r.Schedule.String() != "crontab(30 2 1 * *) America/New_York" {
				t.Errorf("report: %v", r.Schedule)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ file, src, want string }{
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n    crontab: {minute: 61}\n",
			`beat: schedule.yaml: entry "cleanup": field minute: value 61 out of range 0-59`},
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n    cron: '0 0 * * 9'\n",
			`beat: schedule.yaml: entry "cleanup": field day_of_week: value 9 out of range 0-6`},
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n    every: 10s\n    queu: x\n",
			`beat: schedule.yaml: entry "cleanup": unknown key "queu"`},
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n    every: 10s\n    options: {retry: true}\n",
			`beat: schedule.yaml: entry "cleanup": field retry: unknown option`},
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n    every: soon\n",
			`beat: schedule.yaml: entry "cleanup": field every: "soon": want a duration`},
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n",
			`beat: schedule.yaml: entry "cleanup": want exactly one of every, cron, crontab`},
		{"schedule.yaml", "entries:\n  cleanup:\n    every: 1s\n",
			`beat: schedule.yaml: entry "cleanup": field task: a task name is required`},
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n    every: 1s\n    queue: unacked\n",
			`beat: schedule.yaml: entry "cleanup": field queue: invalid queue name: "unacked" starts with`},
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n    every: 1s\n    priority: 12\n",
			`beat: schedule.yaml: entry "cleanup": field priority: value 12 out of range 0-9`},
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n    crontab: {minutes: 5}\n",
			`beat: schedule.yaml: entry "cleanup": crontab: unknown key "minutes"`},
		{"schedule.yaml", "entries:\n  cleanup:\n    task: t\n    every: 1s\n    timezone: Mars/Olympus\n",
			`beat: schedule.yaml: entry "cleanup": field timezone: unknown time zone "Mars/Olympus"`},
		{"schedule.yaml", "timezone: UTC\nentries: {}\n", "beat: schedule.yaml: no entries"},
		{"schedule.yaml", "tz: UTC\n", `beat: schedule.yaml: tz: unknown key "tz"`},
		{"schedule.yaml", "catch_up: always\nentries: {a: {task: t, every: 1s}}\n", `beat: schedule.yaml: catch_up: catch_up "always": want once or skip`},
		{"schedule.yaml", "entries:\n  a: {task: t, every: 1s}\n  a: {task: t, every: 2s}\n", "beat: schedule.yaml: yaml:"},
		{"schedule.toml", "[entries.a]\ntask = \"t\"\nevery = \"1s\"\nprio = 1\n", `beat: schedule.toml: entry "a": unknown key "prio"`},
		{"schedule.toml", "[entries.a\n", "beat: schedule.toml: toml:"},
	} {
		_, err := ParseConfig(tc.file, []byte(tc.src))
		var ce *ConfigError
		if err == nil || !errors.As(err, &ce) || len(err.Error()) < len(tc.want) || err.Error()[:len(tc.want)] != tc.want {
			t.Errorf("ParseConfig(%q):\n got %v\nwant %s...", tc.src, err, tc.want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.yml")
	if err := os.WriteFile(p, []byte(yamlConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err := LoadFile(p); err != nil || len(cfg.Entries) != 3 {
		t.Fatalf("LoadFile: %v", err)
	}
	if _, err := LoadFile(p + ".missing"); err == nil {
		t.Fatal("LoadFile of a missing file: no error")
	}
}
