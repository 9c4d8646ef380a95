package redis

// Redis keys (all under the broker's key prefix; <name> is the Beat's
// name, WithName):
//
//	celeriac.beat.<name>.lock   string: the leader's token "<fence>:<id>", with a lease (PX)
//	celeriac.beat.<name>.fence  string: counter the fencing numbers come from (INCR)
//	celeriac.beat.<name>.last   hash: entry name -> last due time handled (unix ms)
const beatKeyBase = "celeriac.beat."

// acquireScript takes the lock when it is free.
//
// KEYS[1] lock, KEYS[2] fence; ARGV[1] instance id, ARGV[2] lease ms.
// Returns the new token, or the holder's remaining lease in ms (PTTL: -1
// for a lock without expiry) when another holds the lock.
const acquireScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('PTTL', KEYS[1]) end
local token = redis.call('INCR', KEYS[2]) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
`

// renewScript extends the lease if the caller still holds the lock.
//
// KEYS[1] lock; ARGV[1] token, ARGV[2] lease ms. Returns 1 or 0.
const renewScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`

// releaseScript deletes the lock if the caller holds it.
//
// KEYS[1] lock; ARGV[1] token. Returns 1 or 0.
const releaseScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`

// dueScript records that an entry's due time was handled and, if an
// envelope is given, pushes it, in one step: only while the caller's
// token is the lock's value (fencing), and only if the stored last due
// time is older than this one. So a due time is sent at most once, even
// by a leader that lost the lock without noticing.
//
// KEYS[1] lock, KEYS[2] last hash, KEYS[3] queue list (may be absent),
// KEYS[4], KEYS[5] the queue's binding sets (declared as kombu does);
// ARGV[1] token, ARGV[2] entry name, ARGV[3] due (unix ms), ARGV[4]
// envelope ("" = record only), ARGV[5] binding member.
//
// Returns 1 (recorded, and sent if an envelope was given), 0 (this due
// time or a later one was already handled) or -1 (not the leader).
const dueScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local last = redis.call('HGET', KEYS[2], ARGV[2])
if last and tonumber(last) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('SADD', KEYS[4], ARGV[5])
  redis.call('SADD', KEYS[5], ARGV[5])
  redis.call('LPUSH', KEYS[3], ARGV[4])
end
return 1
`
