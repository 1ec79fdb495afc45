package broker

// luaRequeue is shared by the scripts that take a job away from its worker
// (fail, lease expiry): it decides between retry with backoff, dead letter
// and failure, and writes the matching event. It is prepended to them.
//
// requeue(prefix, id, reason, now, retryable, maxAttempts, backoffMs, maxBackoffMs, ttl)
// returns "retry" | "dead" | "failed" | "gone".
const luaRequeue = luaBill + luaUnrun + `
local function requeue(prefix, id, reason, now, retryable, maxAttempts, backoffMs, maxBackoffMs, ttl)
  local jk = prefix .. 'job:' .. id
  local ev = prefix .. 'ev:' .. id
  local f = redis.call('HMGET', jk, 'state', 'attempts', 'achunks', 'seg', 'worker')
  redis.call('ZREM', prefix .. 'leases', id)
  if not f[1] then return 'gone' end
  unrun(prefix, jk)
  local seg = tonumber(f[4] or '0')
  if tonumber(f[3] or '0') > 0 then seg = seg + 1 end
  local attempts = tonumber(f[2] or '1') -- a first lease leaves attempts out
  if not retryable then
    redis.call('HSET', jk, 'state', 'failed', 'err', reason, 'seg', seg, 'achunks', 0, 'worker', '', 'lease', '', 'attempts', attempts)
    redis.call('XADD', ev, '*', 't', 'failed', 'e', reason)
    bill(prefix, id)
    redis.call('PEXPIRE', jk, ttl)
    redis.call('PEXPIRE', ev, ttl)
    return 'failed'
  end
  if attempts >= maxAttempts then
    redis.call('HSET', jk, 'state', 'dead', 'err', reason, 'seg', seg, 'achunks', 0, 'worker', '', 'lease', '', 'attempts', attempts)
    redis.call('RPUSH', prefix .. 'dead', id)
    redis.call('XADD', ev, '*', 't', 'dead', 'e', reason)
    bill(prefix, id)
    return 'dead'
  end
  local delay = backoffMs * math.pow(2, attempts - 1)
  if delay > maxBackoffMs then delay = maxBackoffMs end
  redis.call('HSET', jk, 'state', 'queued', 'err', reason, 'seg', seg, 'achunks', 0, 'worker', '', 'lease', '', 'attempts', attempts)
  redis.call('ZADD', prefix .. 'retry', now + delay, id)
  redis.call('XADD', ev, '*', 't', 'retry', 'e', reason, 'a', attempts, 'w', f[5] or '')
  return 'retry'
end
`

// luaEnqueue puts a queued job back in its user's queue (front) and the user
// in the model's rotation. enqueue(prefix, id) returns 1 if enqueued.
const luaEnqueue = `
local function enqueue(prefix, id)
  local jk = prefix .. 'job:' .. id
  local f = redis.call('HMGET', jk, 'state', 'model', 'user')
  if f[1] ~= 'queued' then return 0 end
  local uq = prefix .. 'uq:' .. f[2] .. '|' .. f[3]
  if redis.call('LPUSH', uq, id) == 1 then
    redis.call('LPUSH', prefix .. 'rot:' .. f[2], f[3])
  end
  redis.call('INCR', prefix .. 'depth:' .. f[2])
  return 1
end
`

// luaHolder checks that worker holds job jk with lease token. It returns
// nil when it does, else an error pair {code, message}. held(f, worker,
// lease) is the same check on the job's state, worker and lease fields
// already read.
const luaHolder = `
local function held(f, worker, lease)
  if not f[1] then return {'not_found', 'unknown job'} end
  if f[1] == 'cancelled' then
    if f[2] == worker and f[3] == lease then return {'cancelled', 'job was cancelled'} end
    return {'conflict', 'job is cancelled'}
  end
  if f[1] ~= 'leased' and f[1] ~= 'streaming' then return {'conflict', 'job is ' .. f[1]} end
  if f[2] ~= worker then return {'conflict', 'job is held by another worker'} end
  if f[3] ~= lease then return {'conflict', 'stale lease'} end
  return nil
end
local function holder(jk, worker, lease)
  return held(redis.call('HMGET', jk, 'state', 'worker', 'lease'), worker, lease)
end
`

// luaBill queues an ended job for the settler when it holds a reservation.
// bill(prefix, id)
const luaBill = `
local function bill(prefix, id)
  if tonumber(redis.call('HGET', prefix .. 'job:' .. id, 'rsv') or '0') > 0 then
    redis.call('RPUSH', prefix .. 'settle', id)
  end
end
`

// luaToken reads a lease token base.K (leaseScript): tokenKind(tok)
// returns whether it is a first attempt's (K f or g) and whether its job
// holds a user slot (g or s). A token of a broker before the letters
// (base.n, or base.nf for a first attempt) says nothing of the slot: nil.
const luaToken = `
local function tokenKind(tok)
  local k = string.byte(tok, -1)
  if string.byte(tok, -2) == 46 and k >= 102 then return k <= 103, k == 103 or k == 115 end
  return k == 102, nil
end
`

// luaUnrun ends a held job's claim on its user's concurrency slot
// (idempotent: the job's run flag is then 0). The claim is the run flag
// when set, else its lease token's letter (tokenKind; a first lease writes
// no flag). unrun(prefix, jk)
const luaUnrun = luaToken + `
local function unrun(prefix, jk)
  local f = redis.call('HMGET', jk, 'run', 'lease', 'model', 'user')
  if f[1] ~= '1' then
    if f[1] or not f[2] then return end
    local _, slot = tokenKind(f[2])
    if not slot then return end
  end
  redis.call('HSET', jk, 'run', '0')
  local k = prefix .. 'urun:' .. f[3]
  redis.call('HINCRBY', k, f[4], -1) -- a count at 0 is deleted by the purge pass
end
`
