package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// retryPolicy is how start-up retries an unreachable broker.
type retryPolicy struct {
	start, step, max time.Duration // first delay, added per attempt, largest delay
	attempts         int           // retries before giving up
}

// startupRetry is Celery's: kombu's Connection.ensure_connection as the
// worker's consumer calls it waits 2 s, then 2 s more each time up to
// 30 s, for broker_connection_max_retries (100) attempts.
var startupRetry = retryPolicy{start: 2 * time.Second, step: 2 * time.Second, max: 30 * time.Second, attempts: 100}

// delay is the wait before retry n (1-based).
func (p retryPolicy) delay(n int) time.Duration {
	return min(p.max, p.start+time.Duration(n-1)*p.step)
}

// waitForBroker returns once ping succeeds, retrying a broker that does
// not answer with p's delays and logging each retry the way Celery's
// worker does ("Cannot connect to URL: error. Trying again in 2.00
// seconds... (1/100)"). A refused password or certificate fails at once
// (retrying will not help), and so does the end of ctx. After p.attempts
// retries it gives up with an error.
func waitForBroker(ctx context.Context, ping func(context.Context) error, brokerURL string, p retryPolicy, log *slog.Logger) error {
	for n := 1; ; n++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ping(pctx)
		cancel()
		if err == nil {
			if n > 1 {
				log.Info("connected to the broker", "broker", redactURL(brokerURL), "attempts", n)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isAuthError(err) {
			return fmt.Errorf("broker %s refused the connection: %w", redactURL(brokerURL), err)
		}
		if n > p.attempts {
			return fmt.Errorf("cannot connect to %s after %d retries: %w", redactURL(brokerURL), p.attempts, err)
		}
		d := p.delay(n)
		log.Error(fmt.Sprintf("Cannot connect to %s: %v. Trying again in %.2f seconds... (%d/%d)",
			redactURL(brokerURL), err, d.Seconds(), n, p.attempts),
			"attempt", n, "max_retries", p.attempts, "delay", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
