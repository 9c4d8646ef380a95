package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// Queue inspection (celery.QueueInspector) on kombu's lists: a queue is one
// list per priority bucket (docs/wire.md#priority), LPUSHed by publishers
// and popped from the tail by BRPOP over the buckets in step order. Every
// read is a window of at most a page (LRANGE); nothing loads a queue whole
// (docs/wire.md#queue-inspection).

// peekScript returns a window of a list, each element as its size and
// either the element or, when it is longer than the peek bound, its first
// 4 KiB and last 16 KiB (where kombu's envelope keeps the headers, after
// the body), so that a window of large messages never crosses the network
// whole.
//
//	KEYS[1] list key
//	ARGV[1], ARGV[2] LRANGE start and stop
//	ARGV[3] peek bound in bytes
//	returns {size1, bytes1, size2, bytes2, ...} in list order
var peekScript = redigo.NewScript(1, `
local items = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])
local max = tonumber(ARGV[3])
local out = {}
for i, v in ipairs(items) do
  out[#out+1] = #v
  if #v > max then
    out[#out+1] = string.sub(v, 1, 4096) .. string.sub(v, -16384)
  else
    out[#out+1] = v
  end
end
return out
`)

// moveScript moves one message, by its exact bytes, from a list to
// another (LREM from the head, LPUSH: the back of the destination).
//
//	KEYS[1] source list, KEYS[2] destination list
//	ARGV[1] the message
//	returns 1 when moved, 0 when the message was gone
var moveScript = redigo.NewScript(2, `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) > 0 then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
`)

// peekMax is the largest message Messages reads whole; a longer one is
// described from its first and last kilobytes.
const peekMax = 64 << 10

// scanWindow is how many messages a removal or a move reads per round
// trip.
const scanWindow = 200

// MaxPage bounds the limit of one Messages call.
const MaxPage = 1000

// peekItem is one element of a peekScript window.
type peekItem struct {
	size int
	raw  []byte // whole when size == len(raw)
}

func (b *Broker) peek(ctx context.Context, c redigo.Conn, key string, start, stop int) ([]peekItem, error) {
	vals, err := redigo.Values(peekScript.DoContext(ctx, c, key, start, stop, peekMax))
	if err != nil {
		return nil, fmt.Errorf("celery: read queue: %w", err)
	}
	out := make([]peekItem, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		n, _ := redigo.Int(vals[i], nil)
		raw, _ := redigo.Bytes(vals[i+1], nil)
		out = append(out, peekItem{size: n, raw: raw})
	}
	return out, nil
}

// describeItem returns what a queue inspector shows of a message.
func describeItem(it peekItem, step int) celery.PendingMessage {
	m := celery.PendingMessage{Size: it.size, Priority: step}
	if it.size != len(it.raw) {
		m.TaskID = kombu.TaskIDHint(it.raw)
		m.Task = kombu.MemberHint(it.raw, `"task"`)
		m.Args = truncRepr(kombu.MemberHint(it.raw, `"argsrepr"`))
		m.Kwargs = truncRepr(kombu.MemberHint(it.raw, `"kwargsrepr"`))
		m.Error = fmt.Sprintf("message of %d bytes, over the %d bytes read to describe it", it.size, peekMax)
		return m
	}
	m.Raw = it.raw
	msg, err := celery.DecodeMessage(it.raw)
	if err != nil {
		m.Error = err.Error()
		m.TaskID = kombu.TaskIDHint(it.raw)
		if env, perr := kombu.ParseEnvelope(it.raw); perr == nil {
			m.Priority = env.Properties.Priority
			m.Task, _ = env.Headers["task"].(string)
			a, _ := env.Headers["argsrepr"].(string)
			k, _ := env.Headers["kwargsrepr"].(string)
			m.Args, m.Kwargs = truncRepr(a), truncRepr(k)
		}
		return m
	}
	m.TaskID, m.Task, m.Priority = msg.ID, msg.Task, msg.Properties.Priority
	m.Args, m.Kwargs = msg.ArgsRepr, msg.KwargsRepr
	if m.Args == "" {
		m.Args = pyjson.PyRepr(msg.Args)
	}
	if m.Kwargs == "" {
		m.Kwargs = pyjson.PyRepr(msg.Kwargs)
	}
	m.Args, m.Kwargs = truncRepr(m.Args), truncRepr(m.Kwargs)
	if !msg.ETA.IsZero() {
		eta := msg.ETA.UTC()
		m.ETA = &eta
	}
	return m
}

// truncRepr cuts s to celery.MaxReprLen bytes (on a rune boundary),
// marking the cut with "...".
func truncRepr(s string) string {
	if len(s) <= celery.MaxReprLen {
		return s
	}
	cut := celery.MaxReprLen - 3
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// Messages implements celery.QueueInspector: a page of queue's pending
// messages in consumption order (bucket by bucket in step order, each
// from its tail). The cursor is "<bucket>:<offset from the tail>".
func (b *Broker) Messages(ctx context.Context, queue, cursor string, limit int) (*celery.MessagePage, error) {
	if err := b.ValidateQueue(queue); err != nil {
		return nil, fmt.Errorf("celery: list messages: %w", err)
	}
	limit = min(max(limit, 1), MaxPage)
	bucket, off := 0, 0
	if cursor != "" {
		bs, os, ok := strings.Cut(cursor, ":")
		var err1, err2 error
		bucket, err1 = strconv.Atoi(bs)
		off, err2 = strconv.Atoi(os)
		if !ok || err1 != nil || err2 != nil || bucket < 0 || bucket >= len(b.o.steps) || off < 0 {
			return nil, fmt.Errorf("%w: %q", celery.ErrBadCursor, cursor)
		}
	}
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	page := &celery.MessagePage{Messages: []celery.PendingMessage{}}
	for bucket < len(b.o.steps) {
		want := limit - len(page.Messages)
		if want == 0 {
			page.Next = strconv.Itoa(bucket) + ":" + strconv.Itoa(off)
			break
		}
		step := b.o.steps[bucket]
		items, err := b.peek(ctx, c, b.key(kombu.QueueKey(queue, step)), -(off + want), -(off + 1))
		if err != nil {
			return nil, err
		}
		for i := len(items) - 1; i >= 0; i-- { // the tail is taken first
			page.Messages = append(page.Messages, describeItem(items[i], step))
		}
		off += len(items)
		if len(items) < want {
			bucket, off = bucket+1, 0
		}
	}
	return page, nil
}

// scan walks queue's buckets from each list's head in windows and calls
// act for every message f selects, with the list key, the message's
// description (Raw holds its exact bytes) and the step; act reports
// whether it took the message out of the list. It stops after f.Limit
// taken (0: no limit).
func (b *Broker) scan(ctx context.Context, c redigo.Conn, queue string, f celery.MessageFilter, act func(key string, m *celery.PendingMessage, step int) (bool, error)) (int, error) {
	n := 0
	for _, step := range b.o.steps {
		key := b.key(kombu.QueueKey(queue, step))
		off := 0
		for {
			items, err := b.peek(ctx, c, key, off, off+scanWindow-1)
			if err != nil {
				return n, err
			}
			taken := 0
			for j, it := range items {
				m := describeItem(it, step)
				if !f.Match(&m) {
					continue
				}
				if m.Raw == nil { // too large to peek: read it whole now
					idx := off + j - taken
					raw, err := redigo.Bytes(redigo.DoContext(c, ctx, "LINDEX", key, idx))
					if err != nil || len(raw) != it.size {
						continue // gone or shifted meanwhile
					}
					m.Raw = raw
				}
				ok, err := act(key, &m, step)
				if err != nil {
					return n, err
				}
				if ok {
					taken++
					n++
					if f.Limit > 0 && n >= f.Limit {
						return n, nil
					}
				}
			}
			if len(items) < scanWindow {
				break
			}
			off += len(items) - taken
		}
	}
	return n, nil
}

// RemoveMessages implements celery.QueueInspector: each selected message is
// removed by its exact bytes (LREM), so a message a worker took meanwhile
// is not counted.
func (b *Broker) RemoveMessages(ctx context.Context, queue string, f celery.MessageFilter, removed func(celery.PendingMessage)) (int, error) {
	if err := b.ValidateQueue(queue); err != nil {
		return 0, fmt.Errorf("celery: remove messages: %w", err)
	}
	c, err := b.conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return b.scan(ctx, c, queue, f, func(key string, m *celery.PendingMessage, _ int) (bool, error) {
		k, err := redigo.Int(redigo.DoContext(c, ctx, "LREM", key, 1, m.Raw))
		if err != nil {
			return false, fmt.Errorf("celery: remove message: %w", err)
		}
		if k > 0 && removed != nil {
			removed(*m)
		}
		return k > 0, nil
	})
}

// MoveMessages implements celery.QueueInspector: each selected message
// moves atomically (moveScript) to the bucket of the same step of to,
// unchanged, so a Python worker consuming to runs it as it was sent. to
// is declared (its binding) as a publish declares it.
func (b *Broker) MoveMessages(ctx context.Context, from, to string, f celery.MessageFilter) (int, error) {
	for _, q := range []string{from, to} {
		if err := b.ValidateQueue(q); err != nil {
			return 0, fmt.Errorf("celery: move messages: %w", err)
		}
	}
	c, err := b.conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	member := kombu.BindingMember(to, "", to)
	c.Send("SADD", b.key(kombu.BindingKey(to)), member)
	if _, err := redigo.DoContext(c, ctx, "SADD", b.key(kombu.PermanentBindingKey(to)), member); err != nil {
		return 0, fmt.Errorf("celery: move messages: declare %s: %w", to, err)
	}
	return b.scan(ctx, c, from, f, func(key string, m *celery.PendingMessage, step int) (bool, error) {
		k, err := redigo.Int(moveScript.DoContext(ctx, c, key, b.key(kombu.QueueKey(to, step)), m.Raw))
		if err != nil {
			return false, fmt.Errorf("celery: move message: %w", err)
		}
		return k > 0, nil
	})
}

var _ celery.QueueInspector = (*Broker)(nil)
