package beat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// nextN returns the n due times after from.
func nextN(s Schedule, from time.Time, n int) []time.Time {
	var out []time.Time
	for range n {
		from = s.Next(from)
		out = append(out, from)
	}
	return out
}

func fmtTimes(ts []time.Time) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Format("2006-01-02 Mon 15:04 MST"))
	}
	return strings.Join(s, ", ")
}

// TestCrontabCeleryExamples follows the table in Celery's periodic-tasks
// guide ("Crontab schedules"), starting on Wednesday 2026-04-29 23:50 UTC.
func TestCrontabCeleryExamples(t *testing.T) {
	start := time.Date(2026, 4, 29, 23, 50, 0, 0, time.UTC) // a Wednesday
	for _, tc := range []struct {
		doc  string
		spec CrontabSpec
		want string
	}{
		{"crontab(): every minute", CrontabSpec{},
			"2026-04-29 Wed 23:51 UTC, 2026-04-29 Wed 23:52 UTC, 2026-04-29 Wed 23:53 UTC"},
		{"crontab(minute=0, hour=0): daily at midnight", CrontabSpec{Minute: "0", Hour: "0"},
			"2026-04-30 Thu 00:00 UTC, 2026-05-01 Fri 00:00 UTC, 2026-05-02 Sat 00:00 UTC"},
		{"crontab(minute=0, hour='*/3'): every three hours", CrontabSpec{Minute: "0", Hour: "*/3"},
			"2026-04-30 Thu 00:00 UTC, 2026-04-30 Thu 03:00 UTC, 2026-04-30 Thu 06:00 UTC"},
		{"crontab(minute=0, hour='0,3,6,9,12,15,18,21'): same", CrontabSpec{Minute: "0", Hour: "0,3,6,9,12,15,18,21"},
			"2026-04-30 Thu 00:00 UTC, 2026-04-30 Thu 03:00 UTC, 2026-04-30 Thu 06:00 UTC"},
		{"crontab(minute='*/15'): every 15 minutes", CrontabSpec{Minute: "*/15"},
			"2026-04-30 Thu 00:00 UTC, 2026-04-30 Thu 00:15 UTC, 2026-04-30 Thu 00:30 UTC"},
		{"crontab(day_of_week='sunday'): every minute on Sundays", CrontabSpec{DayOfWeek: "sunday"},
			"2026-05-03 Sun 00:00 UTC, 2026-05-03 Sun 00:01 UTC, 2026-05-03 Sun 00:02 UTC"},
		{"crontab(minute='*', hour='*', day_of_week='sun'): same", CrontabSpec{Minute: "*", Hour: "*", DayOfWeek: "sun"},
			"2026-05-03 Sun 00:00 UTC, 2026-05-03 Sun 00:01 UTC, 2026-05-03 Sun 00:02 UTC"},
		{"crontab(minute='*/10', hour='3,17,22', day_of_week='thu,fri')", CrontabSpec{Minute: "*/10", Hour: "3,17,22", DayOfWeek: "thu,fri"},
			"2026-04-30 Thu 03:00 UTC, 2026-04-30 Thu 03:10 UTC, 2026-04-30 Thu 03:20 UTC, 2026-04-30 Thu 03:30 UTC, 2026-04-30 Thu 03:40 UTC, 2026-04-30 Thu 03:50 UTC, 2026-04-30 Thu 17:00 UTC"},
		{"crontab(minute=0, hour='*/2,*/3'): even hours and hours divisible by 3", CrontabSpec{Minute: "0", Hour: "*/2,*/3"},
			"2026-04-30 Thu 00:00 UTC, 2026-04-30 Thu 02:00 UTC, 2026-04-30 Thu 03:00 UTC, 2026-04-30 Thu 04:00 UTC, 2026-04-30 Thu 06:00 UTC, 2026-04-30 Thu 08:00 UTC"},
		{"crontab(minute=0, hour='*/5'): hours divisible by 5", CrontabSpec{Minute: "0", Hour: "*/5"},
			"2026-04-30 Thu 00:00 UTC, 2026-04-30 Thu 05:00 UTC, 2026-04-30 Thu 10:00 UTC, 2026-04-30 Thu 15:00 UTC, 2026-04-30 Thu 20:00 UTC, 2026-05-01 Fri 00:00 UTC"},
		{"crontab(minute=0, hour='*/3,8-17'): divisible by 3 and office hours", CrontabSpec{Minute: "0", Hour: "*/3,8-17"},
			"2026-04-30 Thu 00:00 UTC, 2026-04-30 Thu 03:00 UTC, 2026-04-30 Thu 06:00 UTC, 2026-04-30 Thu 08:00 UTC, 2026-04-30 Thu 09:00 UTC, 2026-04-30 Thu 10:00 UTC"},
		{"crontab(0, 0, day_of_month='2'): second day of every month", CrontabSpec{Minute: "0", Hour: "0", DayOfMonth: "2"},
			"2026-05-02 Sat 00:00 UTC, 2026-06-02 Tue 00:00 UTC, 2026-07-02 Thu 00:00 UTC"},
		{"crontab(0, 0, day_of_month='2-30/2'): even days", CrontabSpec{Minute: "0", Hour: "0", DayOfMonth: "2-30/2"},
			"2026-04-30 Thu 00:00 UTC, 2026-05-02 Sat 00:00 UTC, 2026-05-04 Mon 00:00 UTC"},
		{"crontab(0, 0, day_of_month='1-7,15-21'): first and third weeks", CrontabSpec{Minute: "0", Hour: "0", DayOfMonth: "1-7,15-21"},
			"2026-05-01 Fri 00:00 UTC, 2026-05-02 Sat 00:00 UTC, 2026-05-03 Sun 00:00 UTC, 2026-05-04 Mon 00:00 UTC, 2026-05-05 Tue 00:00 UTC, 2026-05-06 Wed 00:00 UTC, 2026-05-07 Thu 00:00 UTC, 2026-05-15 Fri 00:00 UTC"},
		{"crontab(0, 0, day_of_month='11', month_of_year='5'): 11 May", CrontabSpec{Minute: "0", Hour: "0", DayOfMonth: "11", MonthOfYear: "5"},
			"2026-05-11 Mon 00:00 UTC, 2027-05-11 Tue 00:00 UTC"},
		{"crontab(0, 0, month_of_year='*/3'): every day of the first month of each quarter", CrontabSpec{Minute: "0", Hour: "0", MonthOfYear: "*/3"},
			"2026-04-30 Thu 00:00 UTC, 2026-07-01 Wed 00:00 UTC, 2026-07-02 Thu 00:00 UTC"},
		// Celery ANDs day_of_month and day_of_week (Vixie cron would OR
		// them): Mondays in the first week of the month.
		{"crontab(0, 0, day_of_week=1, day_of_month='1-7'): first Monday", CrontabSpec{Minute: "0", Hour: "0", DayOfWeek: "1", DayOfMonth: "1-7"},
			"2026-05-04 Mon 00:00 UTC, 2026-06-01 Mon 00:00 UTC, 2026-07-06 Mon 00:00 UTC"},
		{"day_of_week='fri-mon' wraps around", CrontabSpec{Minute: "0", Hour: "12", DayOfWeek: "fri-mon"},
			"2026-05-01 Fri 12:00 UTC, 2026-05-02 Sat 12:00 UTC, 2026-05-03 Sun 12:00 UTC, 2026-05-04 Mon 12:00 UTC, 2026-05-08 Fri 12:00 UTC"},
		{"mon-fri 1-10/2 minutes", CrontabSpec{Minute: "1-10/4", Hour: "9", DayOfWeek: "mon-fri"},
			"2026-04-30 Thu 09:01 UTC, 2026-04-30 Thu 09:05 UTC, 2026-04-30 Thu 09:09 UTC, 2026-05-01 Fri 09:01 UTC"},
		{"month names (an extra; Celery takes numbers)", CrontabSpec{Minute: "0", Hour: "0", DayOfMonth: "29", MonthOfYear: "feb"},
			"2028-02-29 Tue 00:00 UTC, 2032-02-29 Sun 00:00 UTC"},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			c, err := NewCrontab(tc.spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := strings.Count(tc.want, ",") + 1
			if got := fmtTimes(nextN(c, start, n)); got != tc.want {
				t.Errorf("%v:\n got %s\nwant %s", c, got, tc.want)
			}
		})
	}
}

// TestCrontabDST: a wall-clock time skipped by spring-forward runs once,
// as if the clock had not changed yet (Python zoneinfo, fold=0: 02:30 ->
// 03:30 summer time); a time that occurs twice at fall-back runs once, at
// its first occurrence. Nothing runs twice and nothing is skipped that the
// wall clock does not force.
func TestCrontabDST(t *testing.T) {
	berlin, ny := mustLoc(t, "Europe/Berlin"), mustLoc(t, "America/New_York")
	for _, tc := range []struct {
		name  string
		cron  string
		loc   *time.Location
		start time.Time
		want  string
	}{
		{"Berlin daily 02:30 over spring-forward (29 Mar 2026)", "30 2 * * *", berlin,
			time.Date(2026, 3, 27, 12, 0, 0, 0, berlin),
			"2026-03-28 Sat 02:30 CET, 2026-03-29 Sun 03:30 CEST, 2026-03-30 Mon 02:30 CEST"},
		{"Berlin daily 02:30 over fall-back (25 Oct 2026)", "30 2 * * *", berlin,
			time.Date(2026, 10, 23, 12, 0, 0, 0, berlin),
			"2026-10-24 Sat 02:30 CEST, 2026-10-25 Sun 02:30 CEST, 2026-10-26 Mon 02:30 CET"},
		{"New York daily 02:30 over spring-forward (8 Mar 2026)", "30 2 * * *", ny,
			time.Date(2026, 3, 6, 12, 0, 0, 0, ny),
			"2026-03-07 Sat 02:30 EST, 2026-03-08 Sun 03:30 EDT, 2026-03-09 Mon 02:30 EDT"},
		{"New York daily 01:30 over fall-back (1 Nov 2026)", "30 1 * * *", ny,
			time.Date(2026, 10, 30, 12, 0, 0, 0, ny),
			"2026-10-31 Sat 01:30 EDT, 2026-11-01 Sun 01:30 EDT, 2026-11-02 Mon 01:30 EST"},
		{"New York hourly at :30 over spring-forward: 02:30 and 03:30 are one run", "30 * * * *", ny,
			time.Date(2026, 3, 8, 0, 0, 0, 0, ny),
			"2026-03-08 Sun 00:30 EST, 2026-03-08 Sun 01:30 EST, 2026-03-08 Sun 03:30 EDT, 2026-03-08 Sun 04:30 EDT"},
		{"New York hourly at :30 over fall-back: 01:30 once", "30 * * * *", ny,
			time.Date(2026, 11, 1, 0, 0, 0, 0, ny),
			"2026-11-01 Sun 00:30 EDT, 2026-11-01 Sun 01:30 EDT, 2026-11-01 Sun 02:30 EST, 2026-11-01 Sun 03:30 EST"},
		{"Berlin every 20 minutes over spring-forward", "*/20 1-3 * * *", berlin,
			time.Date(2026, 3, 29, 1, 30, 0, 0, berlin),
			"2026-03-29 Sun 01:40 CET, 2026-03-29 Sun 03:00 CEST, 2026-03-29 Sun 03:20 CEST, 2026-03-29 Sun 03:40 CEST, 2026-03-30 Mon 01:00 CEST"},
		{"Berlin every 20 minutes over fall-back", "*/20 2 * * *", berlin,
			time.Date(2026, 10, 25, 1, 30, 0, 0, berlin),
			"2026-10-25 Sun 02:00 CEST, 2026-10-25 Sun 02:20 CEST, 2026-10-25 Sun 02:40 CEST, 2026-10-26 Mon 02:00 CET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCron(tc.cron, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			n := strings.Count(tc.want, ",") + 1
			got := nextN(c, tc.start, n)
			if s := fmtTimes(got); s != tc.want {
				t.Errorf("\n got %s\nwant %s", s, tc.want)
			}
			for i := 1; i < len(got); i++ {
				if !got[i].After(got[i-1]) {
					t.Errorf("due times not increasing: %v then %v", got[i-1], got[i])
				}
			}
		})
	}
}

func TestCrontabErrors(t *testing.T) {
	for _, tc := range []struct {
		cron, want string
	}{
		{"61 * * * *", "field minute: value 61 out of range 0-59"},
		{"* 24 * * *", "field hour: value 24 out of range 0-23"},
		{"* * 0 * *", "field day_of_month: value 0 out of range 1-31"},
		{"* * * 13 *", "field month_of_year: value 13 out of range 1-12"},
		{"* * * * 7", "field day_of_week: value 7 out of range 0-6"},
		{"* * * * funday", `field day_of_week: value "funday" is neither a number nor a name`},
		{"*/0 * * * *", `field minute: bad step "0"`},
		{"5/15 * * * *", "field minute: \"5/15\": a step needs * or a range"},
		{"1,,2 * * * *", "field minute: empty part"},
		{"-5 * * * *", "negative numbers are not supported"},
		{"* * * *", "want 5 fields"},
		{"0 0 30 2 *", "matches no date"},
	} {
		_, err := ParseCron(tc.cron, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCron(%q) = %v, want error containing %q", tc.cron, err, tc.want)
		}
		var fe *FieldError
		if tc.want != "matches no date" && !errors.As(err, &fe) {
			t.Errorf("ParseCron(%q): %T is not a *FieldError", tc.cron, err)
		}
	}
}

func TestCronShorthands(t *testing.T) {
	start := time.Date(2026, 4, 29, 23, 50, 0, 0, time.UTC)
	for s, want := range map[string]string{
		"@hourly":  "2026-04-30 Thu 00:00 UTC",
		"@daily":   "2026-04-30 Thu 00:00 UTC",
		"@weekly":  "2026-05-03 Sun 00:00 UTC",
		"@monthly": "2026-05-01 Fri 00:00 UTC",
		"@yearly":  "2027-01-01 Fri 00:00 UTC",
	} {
		c, err := ParseCron(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmtTimes([]time.Time{c.Next(start)}); got != want {
			t.Errorf("%s: next %s, want %s", s, got, want)
		}
	}
}

func TestInterval(t *testing.T) {
	s := Every(30 * time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := s.Next(t0); !got.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("Next = %v", got)
	}
	if !Every(0).Next(t0).IsZero() {
		t.Error("Every(0) should never be due")
	}
}
