package beat

import (
	"testing"
	"time"
)

// FuzzParseCron: any string either fails to parse or gives a crontab
// whose next due time is after the start and matches its fields.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/15 0-23/2 1,15 jan-dec mon-fri", "30 2 * * *", "0 0 29 2 *",
		"59 23 31 12 6", "fri-mon 22-2 * * *", "@hourly", "1-10/3,*/7 * * * sun"} {
		f.Add(s)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	start := time.Date(2026, 3, 29, 0, 0, 0, 0, berlin)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCron(s, berlin)
		if err != nil {
			return
		}
		prev := start
		for range 3 {
			next := c.Next(prev)
			if !next.After(prev) {
				t.Fatalf("%q: Next(%v) = %v", s, prev, next)
			}
			l := next.In(berlin)
			if c.month&(1<<uint(l.Month())) == 0 || c.dom&(1<<uint(l.Day())) == 0 || c.dow&(1<<uint(l.Weekday())) == 0 {
				t.Fatalf("%q: %v does not match the day fields", s, l)
			}
			prev = next
		}
	})
}
