package redis

import (
	"context"

	"fmt"
	"time"

	"github.com/celeriac/celeriac/celery"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/kombu"
)

// BeatStore keeps a beat's lock (a lease with fencing tokens) and the
// last due time handled of each entry on the broker's Redis, under the
// broker's key prefix (see beatscripts.go for the keys). It is the
// Redis implementation of beat.Store. It is safe for concurrent use.
type BeatStore struct {
	b                            *Broker
	acquire, renew, release, due *redigo.Script
	lockKey, fenceKey, lastKey   string
}

// NewBeatStore returns the store of the beat schedule called name on
// broker.
func NewBeatStore(broker *Broker, name string) *BeatStore {
	base := broker.o.prefix + beatKeyBase + name
	return &BeatStore{
		b:        broker,
		acquire:  redigo.NewScript(2, acquireScript),
		renew:    redigo.NewScript(1, renewScript),
		release:  redigo.NewScript(1, releaseScript),
		due:      redigo.NewScript(5, dueScript),
		lockKey:  base + ".lock",
		fenceKey: base + ".fence",
		lastKey:  base + ".last",
	}
}

// LockKey returns the Redis key of the lock, for log lines.
func (s *BeatStore) LockKey() string { return s.lockKey }

// Acquire takes the lock for instance id with a lease when it is free,
// and returns the new token. When another holds it, token is "" and held
// is what is left of the holder's lease (negative for a lock without
// expiry, which something else set).
func (s *BeatStore) Acquire(ctx context.Context, id string, lease time.Duration) (token string, held time.Duration, err error) {
	c, err := s.b.conn(ctx)
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	r, err := s.acquire.DoContext(ctx, c, s.lockKey, s.fenceKey, id, lease.Milliseconds())
	if err != nil {
		return "", 0, fmt.Errorf("beat: acquire lock: %w", err)
	}
	switch r := r.(type) {
	case []byte:
		return string(r), 0, nil
	case int64:
		if r < 0 {
			return "", -1, nil
		}
		return "", time.Duration(r) * time.Millisecond, nil
	}
	return "", 0, fmt.Errorf("beat: acquire lock: unexpected reply %T", r)
}

// Renew extends the lease if token still holds the lock, and reports
// whether it did.
func (s *BeatStore) Renew(ctx context.Context, token string, lease time.Duration) (bool, error) {
	c, err := s.b.conn(ctx)
	if err != nil {
		return false, err
	}
	defer c.Close()
	n, err := redigo.Int(s.renew.DoContext(ctx, c, s.lockKey, token, lease.Milliseconds()))
	if err != nil {
		return false, fmt.Errorf("beat: renew lock: %w", err)
	}
	return n == 1, nil
}

// Release frees the lock if token holds it.
func (s *BeatStore) Release(ctx context.Context, token string) error {
	c, err := s.b.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := s.release.DoContext(ctx, c, s.lockKey, token); err != nil {
		return fmt.Errorf("beat: release lock: %w", err)
	}
	return nil
}

// LastRuns returns the last due time handled per entry (entries never
// handled are absent).
func (s *BeatStore) LastRuns(ctx context.Context) (map[string]time.Time, error) {
	c, err := s.b.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	m, err := redigo.Int64Map(redigo.DoContext(c, ctx, "HGETALL", s.lastKey))
	if err != nil {
		return nil, fmt.Errorf("beat: load last runs: %w", err)
	}
	out := make(map[string]time.Time, len(m))
	for k, ms := range m {
		out[k] = time.UnixMilli(ms)
	}
	return out, nil
}

// Record records that entry's due time (millisecond precision) was
// handled and, when pub is not nil, publishes pub to its queue (declared
// as kombu does) in the same atomic step: only while token holds the lock
// (else ErrLockLost), and only if the stored due time is older, so that a
// due time is sent at most once. It returns the entry's last due time
// now stored and whether this call recorded it.
func (s *BeatStore) Record(ctx context.Context, token, entry string, due time.Time, pub *celery.Publishing) (last time.Time, recorded bool, err error) {
	var env []byte
	var queueKey, bindKey, permKey, member string
	if pub != nil {
		env = pub.Body
		queueKey = s.b.queueKey(pub.Queue, pub.Priority)
		bindKey = s.b.key(kombu.BindingKey(pub.Queue))
		permKey = s.b.key(kombu.PermanentBindingKey(pub.Queue))
		member = kombu.BindingMember(pub.Queue, "", pub.Queue)
	}
	c, err := s.b.conn(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	defer c.Close()
	r, err := redigo.Int(s.due.DoContext(ctx, c, s.lockKey, s.lastKey, queueKey, bindKey, permKey,
		token, entry, due.UnixMilli(), env, member))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("beat: entry %q: %w", entry, err)
	}
	switch r {
	case -1:
		return time.Time{}, false, celery.ErrLockLost
	case 0: // already handled (by a previous leader): take Redis's word
		ms, err := redigo.Int64(redigo.DoContext(c, ctx, "HGET", s.lastKey, entry))
		if err != nil {
			return time.Time{}, false, fmt.Errorf("beat: entry %q: %w", entry, err)
		}
		return time.UnixMilli(ms), false, nil
	}
	return due, true, nil
}
