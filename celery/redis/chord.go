package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/celeriac/celeriac/celery"

	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/google/uuid"
)

// chordPartLua records one header result of a chord and, when it is the
// last, claims the right to apply the body. It keeps the key protocol of
// Celery 5.7's Redis backend (on_chord_part_return): results in the sorted
// set <G>.j scored by group index, a <G>.d set of "tid:index" members that
// drops duplicate deliveries, the header size in <G>.s (+ <G>.t), and a
// claim / "done" marker in <G>.c, so Go and Python workers can complete
// members of the same chord.
//
// KEYS: j t s d c. ARGV: tid, entry, index score, expire secs, claim secs,
// claim token. Returns {readycount, t, s, claimed}.
const chordPartLua = `
if redis.call('GET', KEYS[5]) == 'done' then return {-1, false, false, 0} end
local dedup = ARGV[1] .. ':' .. ARGV[3]
if redis.call('SISMEMBER', KEYS[4], dedup) == 0 then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
  redis.call('SADD', KEYS[4], dedup)
end
local n = redis.call('ZCOUNT', KEYS[1], '-inf', '+inf')
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
end
local t = redis.call('GET', KEYS[2])
local s = redis.call('GET', KEYS[3])
local claimed = 0
if s and n == tonumber(s) + tonumber(t or 0) then
  if redis.call('SET', KEYS[5], ARGV[6], 'NX', 'EX', tonumber(ARGV[5])) then claimed = 1 end
end
return {n, t, s, claimed}
`

// chordDoneLua removes a completed chord's keys and leaves the "done"
// marker, if this worker still holds the claim. KEYS: c j t s d.
const chordDoneLua = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('SET', KEYS[1], 'done', 'EX', tonumber(ARGV[2]))
return 1
`

var (
	chordPartScript = redigo.NewScript(5, chordPartLua)
	chordDoneScript = redigo.NewScript(5, chordDoneLua)
)

const (
	chordClaimSecs = 10
	chordDoneSecs  = 300
)

func (b *Backend) groupKey(gid, suffix string) string {
	return b.o.prefix + kombu.GroupKey(gid) + suffix
}

// SetChordSize writes the header size of chord gid (celery-taskset-meta-
// <gid>.s, plain integer text), as Python's apply_chord does before the
// last header task is published.
func (b *Backend) SetChordSize(ctx context.Context, gid string, n int) error {
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("celery: chord size %s: %w", gid, err)
	}
	defer c.Close()
	k := b.groupKey(gid, ".s")
	secs := int(b.o.expires / time.Second)
	if secs > 0 {
		_, err = redigo.DoContext(c, ctx, "SETEX", k, secs, n)
	} else {
		_, err = redigo.DoContext(c, ctx, "SET", k, n)
	}
	if err != nil {
		return fmt.Errorf("celery: chord size %s: %w", gid, err)
	}
	return nil
}

// ChordPartReturn records that a header task of chord gid finished with
// state and result (the value, or the exception dict). It returns a claim
// when this was the last member and the caller must apply the body, nil
// otherwise.
func (b *Backend) ChordPartReturn(ctx context.Context, gid string, index *int, taskID string, state celery.State, result any) (*celery.ChordClaim, error) {
	entry, err := pyjson.Encode([]any{1, taskID, string(state), result})
	if err != nil {
		return nil, fmt.Errorf("celery: chord %s: %w", gid, err)
	}
	score := "+inf"
	if index != nil {
		score = strconv.Itoa(*index)
	}
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("celery: chord %s: %w", gid, err)
	}
	defer c.Close()
	token := uuid.NewString()
	keys := []any{b.groupKey(gid, ".j"), b.groupKey(gid, ".t"), b.groupKey(gid, ".s"), b.groupKey(gid, ".d"), b.groupKey(gid, ".c")}
	args := append(keys, taskID, entry, score, int(b.o.expires/time.Second), chordClaimSecs, token)
	reply, err := redigo.Values(chordPartScript.DoContext(ctx, c, args...))
	if err != nil {
		return nil, fmt.Errorf("celery: chord %s: %w", gid, err)
	}
	if len(reply) != 4 {
		return nil, fmt.Errorf("celery: chord %s: unexpected reply", gid)
	}
	if claimed, _ := redigo.Int(reply[3], nil); claimed != 1 {
		return nil, nil
	}
	raw, err := redigo.ByteSlices(redigo.DoContext(c, ctx, "ZRANGE", keys[0], 0, -1))
	if err != nil {
		return nil, fmt.Errorf("celery: chord %s: %w", gid, err)
	}
	parts := make([]celery.ChordPart, 0, len(raw))
	for _, r := range raw {
		v, err := pyjson.Decode(r)
		if err != nil {
			return nil, fmt.Errorf("celery: chord %s: %w", gid, err)
		}
		l, ok := v.([]any)
		if !ok || len(l) != 4 {
			return nil, fmt.Errorf("celery: chord %s: malformed entry %q", gid, r)
		}
		tid, _ := l[1].(string)
		st, _ := l[2].(string)
		parts = append(parts, celery.ChordPart{TaskID: tid, State: celery.State(st), Result: l[3]})
	}
	return celery.NewChordClaim(gid, parts, func(ctx context.Context, applied bool) error {
		return b.chordDone(ctx, gid, token, applied)
	}), nil
}

// chordDone is ChordClaim.Done on Redis.
func (b *Backend) chordDone(ctx context.Context, gid, token string, applied bool) error {
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if !applied {
		_, err = redigo.DoContext(c, ctx, "DEL", b.groupKey(gid, ".s"))
		return err
	}
	_, err = chordDoneScript.DoContext(ctx, c, b.groupKey(gid, ".c"), b.groupKey(gid, ".j"), b.groupKey(gid, ".t"),
		b.groupKey(gid, ".s"), b.groupKey(gid, ".d"), token, chordDoneSecs)
	return err
}

// SaveGroup stores group id with its members as Python's
// GroupResult.save does: celery-taskset-meta-<id> =
// {"result": [[id, null], [[[tid, null], null], …]]}.
func (b *Backend) SaveGroup(ctx context.Context, id string, taskIDs []string) error {
	members := make([]any, len(taskIDs))
	for i, tid := range taskIDs {
		members[i] = []any{[]any{tid, nil}, nil}
	}
	raw, err := pyjson.Encode(map[string]any{"result": []any{[]any{id, nil}, members}})
	if err != nil {
		return err
	}
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	k := b.groupKey(id, "")
	if secs := int(b.o.expires / time.Second); secs > 0 {
		_, err = redigo.DoContext(c, ctx, "SETEX", k, secs, raw)
	} else {
		_, err = redigo.DoContext(c, ctx, "SET", k, raw)
	}
	return err
}

// GroupMembers returns the member ids of a group saved by SaveGroup or
// Python's GroupResult.save (ErrGroupNotFound when nothing is saved).
func (b *Backend) GroupMembers(ctx context.Context, id string) ([]string, error) {
	conn, err := b.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	raw, err := redigo.Bytes(redigo.DoContext(conn, ctx, "GET", b.groupKey(id, "")))
	if errors.Is(err, redigo.ErrNil) {
		return nil, celery.ErrGroupNotFound
	}
	if err != nil {
		return nil, err
	}
	v, err := pyjson.Decode(raw)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	tup, _ := m["result"].([]any)
	if len(tup) != 2 {
		return nil, fmt.Errorf("celery: group %s: malformed saved result", id)
	}
	members, _ := tup[1].([]any)
	var ids []string
	for _, mem := range members {
		// [[tid, parent], children]
		pair, _ := mem.([]any)
		if len(pair) == 0 {
			continue
		}
		head, _ := pair[0].([]any)
		if len(head) == 0 {
			continue
		}
		tid, _ := head[0].(string)
		ids = append(ids, tid)
	}
	return ids, nil
}
