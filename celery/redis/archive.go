package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
)

// The archive (celery.Archiver) in Redis, under keys celery.ValidateQueue
// reserves (docs/wire.md#archive):
//
//	_celeriac.archive          sorted set: entry id -> archived at (Unix seconds)
//	_celeriac.archive.entries  hash: entry id -> the entry as JSON, message included
const (
	archiveIndexKey   = "_celeriac.archive"
	archiveEntriesKey = "_celeriac.archive.entries"
)

// ArchiveMaxMessage is the largest message the archive keeps; a larger
// one is archived without its message (listed, not requeueable).
const ArchiveMaxMessage = 1 << 20

// archiveScript adds an entry and trims the archive by age and count.
//
//	KEYS[1] index (sorted set), KEYS[2] entries (hash)
//	ARGV[1] id, ARGV[2] score (now), ARGV[3] entry JSON
//	ARGV[4] max count, ARGV[5] oldest score kept
//	returns the number of entries dropped
var archiveScript = redigo.NewScript(2, `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local dropped = 0
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5], 'LIMIT', 0, 1000)
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  dropped = dropped + 1
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if over > 0 then
  local ids = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  for _, id in ipairs(ids) do
    redis.call('HDEL', KEYS[2], id)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
  dropped = dropped + over
end
return dropped
`)

// archiveTakeScript removes an entry and returns it (nil when absent).
//
//	KEYS[1] index, KEYS[2] entries; ARGV[1] id
var archiveTakeScript = redigo.NewScript(2, `
local e = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return e
`)

// archiveEntry is the stored form: the entry and its message.
type archiveEntry struct {
	celery.ArchivedMessage
	Raw []byte `json:"message,omitempty"`
}

func (e *archiveEntry) decode(b []byte) error {
	if err := json.Unmarshal(b, e); err != nil {
		return fmt.Errorf("celery: archive entry: %w", err)
	}
	e.Message = e.Raw
	return nil
}

// Archive implements celery.Archiver. maxCount <= 0 keeps nothing.
func (b *Broker) Archive(ctx context.Context, m celery.ArchivedMessage, maxCount int, maxAge time.Duration) error {
	if maxCount <= 0 {
		return nil
	}
	if m.ArchivedAt.IsZero() {
		m.ArchivedAt = time.Now().UTC()
	}
	e := archiveEntry{ArchivedMessage: m}
	if len(m.Message) <= ArchiveMaxMessage && m.Message != nil {
		e.Raw, e.Requeueable = m.Message, true
	}
	if m.Size == 0 {
		e.Size = len(m.Message)
	}
	entry, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("celery: archive: %w", err)
	}
	now := float64(m.ArchivedAt.UnixMicro()) / 1e6
	oldest := now - maxAge.Seconds()
	if maxAge <= 0 {
		oldest = 0
	}
	return withRetry(ctx, func() error {
		c, err := b.conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := archiveScript.DoContext(ctx, c, b.key(archiveIndexKey), b.key(archiveEntriesKey), m.ID,
			strconv.FormatFloat(now, 'f', 6, 64), entry, maxCount, strconv.FormatFloat(oldest, 'f', 6, 64)); err != nil {
			return fmt.Errorf("celery: archive: %w", err)
		}
		return nil
	})
}

// ArchivedMessages implements celery.Archiver; the cursor is an offset
// into the archive, newest first.
func (b *Broker) ArchivedMessages(ctx context.Context, cursor string, limit int) (*celery.ArchivePage, error) {
	limit = min(max(limit, 1), MaxPage)
	off := 0
	if cursor != "" {
		var err error
		if off, err = strconv.Atoi(cursor); err != nil || off < 0 {
			return nil, fmt.Errorf("%w: %q", celery.ErrBadCursor, cursor)
		}
	}
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ids, err := redigo.Strings(redigo.DoContext(c, ctx, "ZREVRANGE", b.key(archiveIndexKey), off, off+limit-1))
	if err != nil {
		return nil, fmt.Errorf("celery: list archive: %w", err)
	}
	page := &celery.ArchivePage{Messages: []celery.ArchivedMessage{}}
	if len(ids) == 0 {
		return page, nil
	}
	args := []any{b.key(archiveEntriesKey)}
	for _, id := range ids {
		args = append(args, id)
	}
	raws, err := redigo.ByteSlices(redigo.DoContext(c, ctx, "HMGET", args...))
	if err != nil {
		return nil, fmt.Errorf("celery: list archive: %w", err)
	}
	for _, raw := range raws {
		if raw == nil { // trimmed meanwhile
			continue
		}
		var e archiveEntry
		if err := e.decode(raw); err != nil {
			return nil, err
		}
		e.Message = nil
		page.Messages = append(page.Messages, e.ArchivedMessage)
	}
	if len(ids) == limit {
		page.Next = strconv.Itoa(off + limit)
	}
	return page, nil
}

// ArchivedMessage implements celery.Archiver.
func (b *Broker) ArchivedMessage(ctx context.Context, id string) (*celery.ArchivedMessage, error) {
	e, err := b.archiveEntry(ctx, id, func(c redigo.Conn) (any, error) {
		return redigo.DoContext(c, ctx, "HGET", b.key(archiveEntriesKey), id)
	})
	if err != nil {
		return nil, err
	}
	return &e.ArchivedMessage, nil
}

// takeArchived removes entry id and returns it.
func (b *Broker) takeArchived(ctx context.Context, id string) (*archiveEntry, error) {
	return b.archiveEntry(ctx, id, func(c redigo.Conn) (any, error) {
		return archiveTakeScript.DoContext(ctx, c, b.key(archiveIndexKey), b.key(archiveEntriesKey), id)
	})
}

// archiveEntry decodes the entry id that do reads (nil reply:
// ErrMessageNotFound).
func (b *Broker) archiveEntry(ctx context.Context, id string, do func(redigo.Conn) (any, error)) (*archiveEntry, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	raw, err := redigo.Bytes(do(c))
	if errors.Is(err, redigo.ErrNil) {
		return nil, fmt.Errorf("%w: archive entry %s", celery.ErrMessageNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("celery: archive: %w", err)
	}
	var e archiveEntry
	if err := e.decode(raw); err != nil {
		return nil, err
	}
	return &e, nil
}

// RequeueArchived implements celery.Archiver: the message is published
// again, unchanged, to the queue it was taken from; the entry goes only
// once the publish succeeded (a failed publish puts it back).
func (b *Broker) RequeueArchived(ctx context.Context, id string) (*celery.ArchivedMessage, error) {
	m, err := b.ArchivedMessage(ctx, id)
	if err != nil {
		return nil, err
	}
	if !m.Requeueable {
		return nil, celery.ErrNotRequeueable
	}
	if err := b.ValidateQueue(m.Queue); err != nil {
		return nil, fmt.Errorf("celery: requeue %s: %w", id, err)
	}
	e, err := b.takeArchived(ctx, id)
	if err != nil {
		return nil, err // requeued or dropped meanwhile
	}
	if err := b.PublishBatch(ctx, []celery.Publishing{{Queue: e.Queue, Priority: e.Priority, Body: e.Raw}}); err != nil {
		// Back into the archive, unchanged (no trim: it was there).
		if aerr := b.Archive(context.WithoutCancel(ctx), e.ArchivedMessage, 1<<30, 0); aerr != nil {
			return nil, errors.Join(err, aerr)
		}
		return nil, err
	}
	e.Message = nil
	return &e.ArchivedMessage, nil
}

// DeleteArchived implements celery.Archiver.
func (b *Broker) DeleteArchived(ctx context.Context, id string) (*celery.ArchivedMessage, error) {
	e, err := b.takeArchived(ctx, id)
	if err != nil {
		return nil, err
	}
	e.Message = nil
	return &e.ArchivedMessage, nil
}

var _ celery.Archiver = (*Broker)(nil)
