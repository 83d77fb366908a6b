package sessions

import "github.com/redis/go-redis/v9"

// The Lua scripts below run atomically on the Redis node that owns their
// keys. Every key a script touches is declared in KEYS and shares the
// session's hash tag, so each works in Cluster. Scripts return tables (never
// a bare false) so replies read the same under RESP2 and RESP3. Times are
// Unix milliseconds from the calling node's Config.Now.

// indexAddScript adds a session hash to a user or card index and makes sure
// the index lives at least as long as that session can (its TTL only grows).
//
// KEYS[1] index set. ARGV[1] session hash (hex). ARGV[2] TTL in ms.
var indexAddScript = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

// createScript stores a new session unless DeleteUser or DeleteCard left a
// tombstone for its hash while the index entries were being written.
// Returns 1 if stored, 0 for a tombstone, -1 if the key exists (a hash
// collision: never expected).
//
// KEYS[1] session hash, KEYS[2] its tombstone. ARGV[1] TTL in ms,
// ARGV[2..] field, value pairs.
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// touchScript is Get and SetRole: it checks absolute and idle expiry at now,
// removes an expired session, otherwise slides LastSeen (never backwards),
// optionally sets the role, and resets the TTL to the nearer of the two ends.
// Returns {0} if there is no session, {1, uid, card} if it had expired,
// {2, {field, value, ...}} otherwise.
//
// KEYS[1] session hash. ARGV[1] now, ARGV[2] '1' to set the role to ARGV[3].
var touchScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'exp', 'seen', 'idle')
if not f[1] then return {0} end
local exp, seen, idle = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
if not (exp and seen and idle) then
  return redis.error_reply('ERR sessions: malformed session record')
end
local now = tonumber(ARGV[1])
if now >= exp or now >= seen + idle then
  local who = redis.call('HMGET', KEYS[1], 'uid', 'card')
  redis.call('DEL', KEYS[1])
  return {1, who[1] or '', who[2] or ''}
end
if now > seen then
  seen = now
  redis.call('HSET', KEYS[1], 'seen', now)
end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'role', ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], math.min(exp, seen + idle) - now + 60000) -- ttlGraceMS
return {2, redis.call('HGETALL', KEYS[1])}
`)

// endScript deletes a session. When the session is already gone and ARGV[2]
// is not '0', it leaves a tombstone for ARGV[2] ms so that a Create still
// in flight for this hash (its index entry written, its session not yet)
// cannot store it afterwards. Returns {0} if there was no session,
// {1, live, uid, card} otherwise, live being 1 if it had not expired at now.
//
// KEYS[1] session hash, KEYS[2] its tombstone. ARGV[1] now, ARGV[2]
// tombstone TTL in ms or '0'.
var endScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'uid', 'card', 'exp', 'seen', 'idle')
if not f[1] then
  if ARGV[2] ~= '0' then
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  end
  return {0}
end
redis.call('DEL', KEYS[1])
local now = tonumber(ARGV[1])
local exp, seen, idle = tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
local live = 0
if exp and seen and idle and now < exp and now < seen + idle then live = 1 end
return {1, live, f[1], f[2] or ''}
`)
