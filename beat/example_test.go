package beat_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/celeriac/celeriac/beat"
	credis "github.com/celeriac/celeriac/celery/redis"
)

// A Beat built from Go code: one interval entry and one crontab entry.
// Start as many processes running this as you like; one of them sends.
func ExampleNew() {
	broker, err := credis.NewBroker("redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	b, err := beat.New(credis.NewBeatStore(broker, "default"), []beat.Entry{
		{Name: "ping", Task: "tasks.add", Schedule: beat.Every(30 * time.Second), Args: []any{2, 3}},
		{
			Name: "cleanup", Task: "tasks.cleanup", Queue: "maintenance", Expires: 10 * time.Minute,
			Schedule: beat.MustCrontab(beat.CrontabSpec{Minute: "0", Hour: "*/6", DayOfWeek: "mon-fri"}, berlin),
		},
	}, beat.WithLease(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := b.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// Celery's crontab: day_of_week 0 is Sunday, and day_of_month and
// day_of_week must both match (the first Monday of each month here).
func ExampleNewCrontab() {
	c, err := beat.NewCrontab(beat.CrontabSpec{Minute: "0", Hour: "9", DayOfWeek: "mon", DayOfMonth: "1-7"}, time.UTC)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range beat.Upcoming(c, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 3) {
		fmt.Println(t.Format("Mon 2006-01-02 15:04"))
	}
	// Output:
	// Mon 2026-01-05 09:00
	// Mon 2026-02-02 09:00
	// Mon 2026-03-02 09:00
}

// A 5-field cron string in a time zone: on the spring-forward day 02:30
// does not exist in Berlin and the run happens at 03:30 summer time.
func ExampleParseCron() {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	c, err := beat.ParseCron("30 2 * * *", berlin)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c)
	for _, t := range beat.Upcoming(c, time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), 2) {
		fmt.Println(t.Format("2006-01-02 15:04 MST"))
	}
	// Output:
	// crontab(30 2 * * *) Europe/Berlin
	// 2026-03-29 03:30 CEST
	// 2026-03-30 02:30 CEST
}

func ExampleParseConfig() {
	cfg, err := beat.ParseConfig("schedule.yaml", []byte(`
timezone: America/New_York
entries:
  report:
    task: tasks.report
    crontab: {minute: 0, hour: 7, day_of_week: mon-fri}
    kwargs: {format: pdf}
  ping:
    task: tasks.add
    every: 30s
    args: [2, 3]
    queue: fast
`))
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range cfg.Entries {
		fmt.Println(e.Name, e.Task, e.Schedule)
	}
	_, err = beat.ParseConfig("schedule.yaml", []byte("entries:\n  cleanup: {task: t, crontab: {minute: 61}}\n"))
	fmt.Println(err)
	// Output:
	// ping tasks.add every 30s
	// report tasks.report crontab(0 7 * * mon-fri) America/New_York
	// beat: schedule.yaml: entry "cleanup": field minute: value 61 out of range 0-59
}
