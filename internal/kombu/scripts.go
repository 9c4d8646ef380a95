package kombu

// Lua scripts shared by the client and the worker. Each runs through
// EVALSHA with an EVAL fallback (redigo's Script does that).

// StoreResultScript stores a task's result meta unless a SUCCESS is already
// stored, and publishes it on the key's channel, atomically: the GET check,
// SETEX and PUBLISH that celery's Redis backend performs in two round trips
// (backends/base.py `store_result`, backends/redis.py `set`;
// docs/wire.md#storing-a-result).
//
//	KEYS[1] result key (also the channel)
//	ARGV[1] meta JSON
//	ARGV[2] expiry in seconds; "0" stores without expiry
//	ARGV[3] channel to publish on (the key without a global prefix would be
//	        wrong for prefixed subscribers, so the caller passes it)
//	returns 1 when stored, 0 when a SUCCESS was kept
const StoreResultScript = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, meta = pcall(cjson.decode, cur)
  if ok and type(meta) == 'table' and meta['status'] == 'SUCCESS' then
    return 0
  end
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
`

// GetMaxScript reads a result key unless its value is larger than a
// bound, so that a reader with a bound (the HTTP API) never transfers an
// oversized result: STRLEN and GET in one step.
//
//	KEYS[1] result key
//	ARGV[1] the bound, in bytes
//	returns the value (nil when there is none), or its length, an
//	        integer, when that is over the bound
const GetMaxScript = `
local n = redis.call('STRLEN', KEYS[1])
if n > tonumber(ARGV[1]) then return n end
return redis.call('GET', KEYS[1])
`

// RefreshBindingScript binds a queue with x-expires: it adds the member
// to the exchange's binding table and raises the exchange's deadline in
// the deadline set, by the Redis clock, so that kombu 5.7's sweep keeps
// the table (redis.py `REFRESH_BINDING`; docs/wire.md#binding-tables).
//
//	KEYS[1] binding table (_kombu.binding.<exchange>)
//	KEYS[2] deadline set (_kombu.binding_deadlines)
//	ARGV[1] binding member
//	ARGV[2] exchange
//	ARGV[3] milliseconds from now
const RefreshBindingScript = `
redis.call('SADD', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], 'GT', now + tonumber(ARGV[3]), ARGV[2])
`

// ReleaseMutexScript deletes a lock only if it still holds our token
// (kombu redis.py `Mutex.release`).
//
//	KEYS[1] mutex key
//	ARGV[1] token
//	returns 1 when released
const ReleaseMutexScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`

// RestoreScript moves one unacked message back onto its queue if the
// unacked entry still holds the payload the caller read: a compare-and-set
// that replaces kombu's WATCH/MULTI (redis.py `QoS.restore_by_tag`) without
// its retry storms on a busy unacked hash.
//
//	KEYS[1] unacked hash, KEYS[2] unacked_index zset, KEYS[3] target list
//	ARGV[1] delivery tag, ARGV[2] expected entry, ARGV[3] payload to push,
//	ARGV[4] "1" to LPUSH (back of the queue), else RPUSH (served next)
//	returns 1 when restored, 0 when the entry changed or vanished
const RestoreScript = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[4] == '1' then
  redis.call('LPUSH', KEYS[3], ARGV[3])
else
  redis.call('RPUSH', KEYS[3], ARGV[3])
end
return 1
`

// PopBatchScript takes up to n messages off a consumer's queue keys, in
// the order given (priority buckets first, as BRPOP would), and records
// each in unacked/unacked_index in the same atomic step: what a BRPOP plus
// kombu's QoS.append does per message, for a whole prefetch window in one
// round trip and without kombu's window between pop and record. It never
// blocks; callers fall back to BRPOP when it finds nothing.
//
// The unacked field of each message is ARGV[2] .. ":" .. its index in the
// batch instead of the envelope's delivery_tag, so the script need not
// parse JSON (that would cost Redis more than all of a task's other
// commands together). Nobody but the consumer that took a message acks
// it, and restores (Go's and kombu's) treat the field as an opaque key;
// the entry's exchange is "" and its routing key the queue the message
// came from, so every restore puts it back where it was.
//
// A message longer than the size limit (ARGV[5], 0 = none) is popped but
// neither recorded nor returned: in its place come its size, as an integer,
// and the task id found by a cheap textual search of its first 4 KiB and
// last 16 KiB (where kombu's envelope keeps headers and properties behind a
// large body), so that the consumer can log and reject it, and store a
// FAILURE, without the message ever crossing the network.
//
//	KEYS[1] unacked hash, KEYS[2] unacked_index zset, KEYS[3..] queue keys
//	ARGV[1] n, ARGV[2] a unique prefix for this batch's fields,
//	ARGV[3] delivery time (unix seconds, float text), ARGV[4] "1" to
//	record deliveries (ack emulation on), ARGV[5] the size limit in
//	bytes, ARGV[6..] the JSON-quoted queue name of each queue key
//	returns a flat array of key, message, unacked field ("" when not
//	recorded: ack emulation off, or not a JSON object); for a message over
//	the limit key, size (integer), task id ("" when none was found)
//
// Only a valid JSON object is recorded (cjson.decode, and the text must
// start with "{" and end with "}"): the unacked hash must hold nothing a
// Python worker's restore sweep cannot load. Before popping anything the
// script checks that unacked and unacked_index are a hash and a sorted set
// (or absent): a write refused halfway through a script is not rolled
// back, so a wrong-typed key found after a pop would destroy the messages
// already popped. A queue key that is not a list is skipped (RPOP through
// pcall) for the same reason. At maxmemory the script still records what
// it popped: its first write is the RPOP, which frees memory, and Redis
// refuses a script's writes for memory only until it has written once.
const PopBatchScript = `
local function task_id(msg)
  local parts = {string.sub(msg, -16384), string.sub(msg, 1, 4096)}
  for _, key in ipairs({'"id"', '"correlation_id"'}) do
    for _, s in ipairs(parts) do
      local id = string.match(s, key .. '%s*:%s*"([^"\\]+)"')
      if id then return id end
    end
  end
  return ''
end
local function is_type(key, want)
  local t = redis.call('TYPE', key)['ok']
  return t == want or t == 'none'
end
if ARGV[4] == '1' and not (is_type(KEYS[1], 'hash') and is_type(KEYS[2], 'zset')) then
  return redis.error_reply('WRONGTYPE unacked or unacked_index holds the wrong kind of value; nothing popped')
end
local function json_object(msg)
  if string.byte(msg, 1) ~= 123 or string.byte(msg, -1) ~= 125 then
    return false
  end
  local ok, v = pcall(cjson.decode, msg)
  return ok and type(v) == 'table'
end
local limit = tonumber(ARGV[5])
local n = tonumber(ARGV[1])
local out = {}
local got = 0
for i = 3, #KEYS do
  while got < n do
    local msg = redis.pcall('RPOP', KEYS[i])
    if type(msg) ~= 'string' then break end -- empty, or not a list
    out[#out + 1] = KEYS[i]
    if limit > 0 and #msg > limit then
      out[#out + 1] = #msg
      out[#out + 1] = task_id(msg)
    else
      local tag = ''
      -- Only a JSON object is recorded: unacked must hold JSON, or a
      -- Python worker's sweep would die restoring it.
      if ARGV[4] == '1' and json_object(msg) then
        tag = ARGV[2] .. ':' .. got
        redis.call('ZADD', KEYS[2], ARGV[3], tag)
        redis.call('HSET', KEYS[1], tag, '[' .. msg .. ', "", ' .. ARGV[i + 3] .. ']')
      end
      out[#out + 1] = msg
      out[#out + 1] = tag
    end
    got = got + 1
  end
  if got >= n then break end
end
return out
`

// GiveBackScript puts a message whose record in unacked failed back at
// the front of its queue (RPUSH: the next pop takes it), after removing
// whatever part of the record was written. The removal comes first on
// purpose: Redis refuses a script's writes for memory (maxmemory with
// noeviction) only until the script has written once, and an HDEL never
// needs memory, so the message goes back even when Redis refuses new
// data. That is no loophole: the push only returns the memory its pop
// freed.
//
//	KEYS[1] unacked hash, KEYS[2] unacked_index zset, KEYS[3] queue key
//	ARGV[1] the delivery tag of the failed record, ARGV[2] the message
//	returns the queue's new length
const GiveBackScript = `
redis.pcall('HDEL', KEYS[1], ARGV[1])
redis.pcall('ZREM', KEYS[2], ARGV[1])
return redis.call('RPUSH', KEYS[3], ARGV[2])
`
