package redisstore

import "github.com/redis/go-redis/v9"

// The scripts are each one atomic step (Redis runs a script with nothing else in between). With AOF on,
// a script's writes are logged together, so a crash never leaves half of one.

// openScript: KEYS contact index, new conversation hash; ARGV id channel contact lang now.
// Returns {1, id} when it created the conversation, {0, existing id} when one was there.
var openScript = redis.NewScript(`
local id = redis.call('GET', KEYS[1])
if id then return {0, id} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'channel', ARGV[2], 'contact', ARGV[3], 'lang', ARGV[4],
  'started', '0', 'last_seq', '0', 'created', ARGV[5], 'updated', ARGV[5])
return {1, ARGV[1]}
`)

// appendScript: KEYS conv msgs unh unhandled dedupe unhandledSince; ARGV body hasClientID ttlMillis now
// convID nowMicros.
// Returns {-1} (no conversation), {0, seq, body, unhandled 0|1} (a repeat), {1, seq}.
var appendScript = redis.NewScript(repeatedInbound + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if ARGV[2] == '1' then
  local r = repeated(KEYS[5], KEYS[2], KEYS[3])
  if r then return r end
end
local seq = redis.call('HINCRBY', KEYS[1], 'last_seq', 1)
redis.call('HSET', KEYS[1], 'updated', ARGV[4])
redis.call('HSET', KEYS[2], seq, ARGV[1])
redis.call('SADD', KEYS[3], seq)
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('ZADD', KEYS[6], 'NX', ARGV[6], ARGV[5]) -- stalled since (sweep): an older mark stays
if ARGV[2] == '1' then redis.call('SET', KEYS[5], seq, 'PX', ARGV[3]) end
return {1, seq}
`)

// repeatedInbound (a Lua prelude) answers a repeated client id, given the keys dedupe msgs unh:
// {0, seq, body, unhandled 0|1} of the message first stored with it, or nil when it is new.
const repeatedInbound = `
local function repeated(dedupe, msgs, unh)
  local prev = redis.call('GET', dedupe)
  if prev then
    local m = redis.call('HGET', msgs, prev)
    if m then return {0, tonumber(prev), m, redis.call('SISMEMBER', unh, prev)} end
  end
end
`

// refreshHead (a Lua prelude) puts a conversation's head-of-line pending delivery into the due set at
// its next attempt, or takes the conversation out when nothing is pending.
const refreshHead = `
local function refresh(dp, dv, due, conv)
  local h = redis.call('ZRANGE', dp, 0, 0)
  if #h == 0 then redis.call('ZREM', due, conv) return end
  redis.call('ZADD', due, redis.call('HGET', dv, h[1] .. ':nextus'), conv)
end
`

// commitScript: KEYS conv msgs unh unhandled dv dp due pending lock unhandledSince;
// ARGV inboundSeq hasState state at now deliver nextNanos nextMicros token convID reply...
// Returns {-1} no conversation, {-2} no such inbound, {-3} stale fence, {-4} already committed,
// {1, last seq}.
var commitScript = redis.NewScript(storeTurn + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if ARGV[9] ~= '0' then
  local v = redis.call('GET', KEYS[9])
  if not v or string.match(v, ':(%d+)$') ~= ARGV[9] then return {-3} end
end
if ARGV[1] ~= '0' then
  if redis.call('SREM', KEYS[3], ARGV[1]) == 0 then
    local m = redis.call('HGET', KEYS[2], ARGV[1])
    if not m then return {-2} end
    local d = cjson.decode(m)['direction']
    if d ~= 'in' and d ~= 'event' then return {-2} end
    return {-4}
  end
  if redis.call('SCARD', KEYS[3]) == 0 then
    redis.call('SREM', KEYS[4], ARGV[10])
    redis.call('ZREM', KEYS[10], ARGV[10])
  else
    redis.call('ZADD', KEYS[10], ARGV[8], ARGV[10]) -- progress: the stall clock starts again
  end
else
  if redis.call('HGET', KEYS[1], 'started') == '1' then return {-4} end
  redis.call('HSET', KEYS[1], 'started', '1')
end
local n = #ARGV - 10
local last = redis.call('HINCRBY', KEYS[1], 'last_seq', n)
storeTurn(KEYS[1], KEYS[2], KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[10], ARGV, 2, 10, n, last)
return {1, last}
`)

// storeTurn (a Lua prelude) writes a turn whose replies take the seqs up to last (already counted in
// last_seq): the state, the update time, each reply and, to deliver, its pending delivery. ARGV from
// a (0-based) holds hasState state at now deliver nextNanos nextMicros; the n reply bodies follow
// ARGV[r].
const storeTurn = refreshHead + `
local function storeTurn(conv, msgs, dv, dp, due, pending, convID, ARGV, a, r, n, last)
  if ARGV[a] == '1' then redis.call('HSET', conv, 'state', ARGV[a + 1]) else redis.call('HDEL', conv, 'state') end
  redis.call('HSET', conv, 'updated', ARGV[a + 3])
  local deliver = ARGV[a + 4] == '1'
  local channel = redis.call('HGET', conv, 'channel')
  for i = 1, n do
    local seq = last - n + i
    redis.call('HSET', msgs, seq, ARGV[r + i])
    if deliver then
      local p = seq .. ':'
      redis.call('HSET', dv, p .. 'channel', channel, p .. 'status', 'pending', p .. 'parts', '0',
        p .. 'attempts', '0', p .. 'next', ARGV[a + 5], p .. 'nextus', ARGV[a + 6], p .. 'err', '',
        p .. 'created', ARGV[a + 2], p .. 'updated', ARGV[a + 2])
      redis.call('ZADD', dp, seq, seq)
      redis.call('INCR', pending)
    end
  end
  if deliver and n > 0 then refresh(dp, dv, due, convID) end
end
`

// commitInboundScript stores a customer message (already handled) together with its turn, fenced
// (the one-write turn of a scaled-out node, channels.FencedStore.CommitInboundFenced).
// KEYS conv msgs unh dv dp due pending lock dedupe;
// ARGV token lastSeq body hasClientID ttlMillis hasState state at now deliver nextNanos nextMicros
// convID reply...
// Returns {-1} no conversation, {-3} stale fence, {-5} last_seq is not lastSeq (something was stored
// meanwhile), {0, seq, body, unhandled 0|1} a repeated client id, {1, last seq}.
var commitInboundScript = redis.NewScript(storeTurn + repeatedInbound + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local v = redis.call('GET', KEYS[8])
if not v or string.match(v, ':(%d+)$') ~= ARGV[1] then return {-3} end
if ARGV[4] == '1' then
  local r = repeated(KEYS[9], KEYS[2], KEYS[3])
  if r then return r end
end
if redis.call('HGET', KEYS[1], 'last_seq') ~= ARGV[2] then return {-5} end
local n = #ARGV - 13
local seq = tonumber(ARGV[2]) + 1
redis.call('HSET', KEYS[2], seq, ARGV[3])
if ARGV[4] == '1' then redis.call('SET', KEYS[9], seq, 'PX', ARGV[5]) end
local last = redis.call('HINCRBY', KEYS[1], 'last_seq', 1 + n)
storeTurn(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[13], ARGV, 6, 13, n, last)
return {1, last}
`)

// stalledScript: KEYS unhandledSince; ARGV prefix maxMicros limit. Returns up to limit conversation ids
// stalled at or before maxMicros whose turn lock is free (a few times limit are looked at, so held
// ones do not hide free ones behind them).
var stalledScript = redis.NewScript(`
local out = {}
local limit = tonumber(ARGV[3])
for _, c in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, 4 * limit)) do
  if redis.call('EXISTS', ARGV[1] .. 'lock:{' .. c .. '}') == 0 then
    out[#out + 1] = c
    if #out >= limit then break end
  end
end
return out
`)

// unhandledRows is the Lua that reads into out the {seq, body} of each unhandled message
// (unsorted), given the keys unh and msgs.
const unhandledRows = `
local out = {}
for _, s in ipairs(redis.call('SMEMBERS', unh)) do
  local m = redis.call('HGET', msgs, s)
  if m then out[#out + 1] = {tonumber(s), m} end
end
`

// unhandledScript: KEYS unh msgs. Returns {seq, body} of each unhandled message (unsorted).
var unhandledScript = redis.NewScript(`local unh, msgs = KEYS[1], KEYS[2]` + unhandledRows + `return out`)

// messagesScript: KEYS conv msgs unh; ARGV afterSeq limit. Seqs have no gaps, so the range is read
// by index. Returns {seq, body, unhandled 0|1} in seq order.
var messagesScript = redis.NewScript(`
local last = tonumber(redis.call('HGET', KEYS[1], 'last_seq') or '0')
local from = tonumber(ARGV[1]) + 1
local to = math.min(last, from + tonumber(ARGV[2]) - 1)
local out = {}
for s = from, to do
  local m = redis.call('HGET', KEYS[2], s)
  if m then out[#out + 1] = {s, m, redis.call('SISMEMBER', KEYS[3], s)} end
end
return out
`)

// partSentScript: KEYS dv dp due pending rc prov; ARGV seq part last now providerID convID.
// Returns -2 no delivery, -4 not pending with exactly part parts sent, 1.
var partSentScript = redis.NewScript(refreshHead + `
local p = ARGV[1] .. ':'
local st = redis.call('HGET', KEYS[1], p .. 'status')
if not st then return -2 end
if st ~= 'pending' or redis.call('HGET', KEYS[1], p .. 'parts') ~= ARGV[2] then return -4 end
redis.call('HINCRBY', KEYS[1], p .. 'parts', 1)
redis.call('HSET', KEYS[1], p .. 'err', '', p .. 'updated', ARGV[4])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], p .. 'status', 'sent')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('DECR', KEYS[4])
  refresh(KEYS[2], KEYS[1], KEYS[3], ARGV[6])
end
if ARGV[5] ~= '' then
  local r = ARGV[1] .. ':' .. ARGV[2] .. ':'
  redis.call('HSET', KEYS[5], r .. 'p', ARGV[5], r .. 's', 'sent', r .. 'u', ARGV[4])
  redis.call('SADD', KEYS[6], ARGV[6] .. '\t' .. ARGV[1] .. '\t' .. ARGV[2])
end
return 1
`)

// retryScript: KEYS dv dp due; ARGV seq nextNanos nextMicros code now convID.
var retryScript = redis.NewScript(refreshHead + `
local p = ARGV[1] .. ':'
local st = redis.call('HGET', KEYS[1], p .. 'status')
if not st then return -2 end
if st ~= 'pending' then return -4 end
redis.call('HINCRBY', KEYS[1], p .. 'attempts', 1)
redis.call('HSET', KEYS[1], p .. 'next', ARGV[2], p .. 'nextus', ARGV[3], p .. 'err', ARGV[4], p .. 'updated', ARGV[5])
refresh(KEYS[2], KEYS[1], KEYS[3], ARGV[6])
return 1
`)

// failedScript: KEYS dv dp due pending; ARGV seq code now convID.
var failedScript = redis.NewScript(refreshHead + `
local p = ARGV[1] .. ':'
local st = redis.call('HGET', KEYS[1], p .. 'status')
if not st then return -2 end
if st ~= 'pending' then return -4 end
redis.call('HINCRBY', KEYS[1], p .. 'attempts', 1)
redis.call('HSET', KEYS[1], p .. 'status', 'failed', p .. 'err', ARGV[2], p .. 'updated', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DECR', KEYS[4])
refresh(KEYS[2], KEYS[1], KEYS[3], ARGV[4])
return 1
`)

// markStatusScript: KEYS prov; ARGV prefix status rank now. Moves every receipt of the provider id
// forward (never back, never out of a terminal status). Returns -2 for an unknown provider id.
var markStatusScript = redis.NewScript(`
local ranks = {queued = 1, sending = 2, sent = 3, delivered = 4, undelivered = 4, failed = 4}
local members = redis.call('SMEMBERS', KEYS[1])
if #members == 0 then return -2 end
local rank = tonumber(ARGV[3])
for _, m in ipairs(members) do
  local conv, seq, part = string.match(m, '^([^\t]*)\t([^\t]*)\t([^\t]*)$')
  local rc = ARGV[1] .. 'rc:{' .. conv .. '}'
  local r = seq .. ':' .. part .. ':'
  local old = ranks[redis.call('HGET', rc, r .. 's') or ''] or 0
  if old < 4 and rank > old then redis.call('HSET', rc, r .. 's', ARGV[2], r .. 'u', ARGV[4]) end
end
return 1
`)

// deliveryFieldNames is the Lua list of a delivery's hash fields, given its prefix p ("<seq>:"), in
// the order deliveryFields reads them.
const deliveryFieldNames = `p .. 'channel', p .. 'status', p .. 'parts', p .. 'attempts', p .. 'next', p .. 'err', p .. 'created', p .. 'updated'`

// headOfLine (a Lua prelude) reads what a send needs of a conversation, given its keys dp dv conv
// msgs: {the conversation's fields} when nothing is pending, else {fields, seq, {channel status parts
// attempts next err created updated}, message body or false} of the head of line (the pending seq
// with the lowest score). The fields are HMGET's of headConvFields: every one but the state, the
// hash's largest, which a send does not need.
var headOfLine = `
local function headOfLine(dp, dv, conv, msgs)
  local c = redis.call('HMGET', conv, ` + headConvFieldNames + `)
  local h = redis.call('ZRANGE', dp, 0, 0)
  if #h == 0 then return {c} end
  local p = h[1] .. ':'
  local f = redis.call('HMGET', dv, ` + deliveryFieldNames + `)
  return {c, tonumber(h[1]), f, redis.call('HGET', msgs, h[1])}
end
`

// dueScript: KEYS due; ARGV prefix maxMicros limit. Returns {conv, seq, fields...} of the heads of
// line whose next attempt (µs) is at or before maxMicros, in due order; Go checks the exact time.
var dueScript = redis.NewScript(`
local out = {}
for _, c in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])) do
  local h = redis.call('ZRANGE', ARGV[1] .. 'dp:{' .. c .. '}', 0, 0)
  if #h > 0 then
    local p = h[1] .. ':'
    local f = redis.call('HMGET', ARGV[1] .. 'dv:{' .. c .. '}', ` + deliveryFieldNames + `)
    out[#out + 1] = {c, h[1], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]}
  end
end
return out
`)
