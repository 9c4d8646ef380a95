// Package beat is a Celery-beat-compatible periodic task scheduler that is
// safe to run more than once.
//
// A schedule is a list of Entry values: a task name, arguments, options
// and a Schedule — an Interval (Every(30*time.Second)) or a Crontab with
// Celery's fields and meaning (minute, hour, day_of_week with 0 = Sunday,
// day_of_month, month_of_year; a day must match all three day fields) in a
// time zone. LoadFile reads one from a YAML or TOML file (docs/beat.md).
//
// A Beat sends the entries' tasks as ordinary protocol-v2 task messages
// through a Store (celery/redis.NewBeatStore on the broker's Redis), so Python
// and Go workers run them. Any number of Beats sharing a store's name may
// run: a Redis lock with a lease elects the
// one that sends, the leader renews it every third of the lease, and a
// standby takes over at most one lease after the leader died. Each send is
// one Lua script that checks the lock still holds the sender's token
// (fencing), checks that the entry's stored last due time is older, records
// the new one and pushes the message; so no due time is ever sent twice,
// even by a deposed leader, and a restart neither repeats nor skips a run
// (due times late by less than the late window are all sent; older ones
// follow the CatchUp policy).
//
// Every message carries the headers beat_due (the due time it was sent for)
// and beat_entry (the entry's name).
package beat
