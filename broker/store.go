package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/wire"
)

// Clock tells the time; tests pass a simulated one.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// StoreConfig tunes the job store. The zero value means the defaults.
type StoreConfig struct {
	Lease       time.Duration // lease length; default 15s
	MaxAttempts int           // attempts before dead letter; default 5
	Backoff     time.Duration // first retry delay, doubled per attempt; default 100ms
	MaxBackoff  time.Duration // default 10s
	Retention   time.Duration // how long finished jobs and their events stay; default 24h
	MaxQueue    int           // queued jobs per model before "busy"; 0 = unlimited
	MaxUserJobs int           // running jobs per user and model; 0 = unlimited
	Clock       Clock
}

func (c *StoreConfig) setDefaults() {
	if c.Lease <= 0 {
		c.Lease = 15 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.Backoff <= 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
}

// Store is the job state machine in Redis. Every transition is one Lua
// script on one shard's keys, idempotent where a worker may repeat it.
type Store struct {
	rdb    redis.UniversalClient
	cfg    StoreConfig
	origin string // tags this broker's submit notifications
}

// NewStore returns a Store on rdb (a *redis.Client or *redis.ClusterClient).
func NewStore(rdb redis.UniversalClient, cfg StoreConfig) *Store {
	cfg.setDefaults()
	return &Store{rdb: rdb, cfg: cfg, origin: randHex(8)}
}

// Sentinel errors of the store. Worker-facing ones map to wire codes.
var (
	ErrNotFound  = errors.New("unknown job")
	ErrConflict  = errors.New("conflict")
	ErrCancelled = errors.New("job was cancelled")
	ErrBusy      = errors.New("queue is full")
	// ErrOtherUsersJob: a submit whose job id is already another user's job.
	ErrOtherUsersJob = errors.New("job id is another user's job")
)

func (s *Store) now() int64 { return s.cfg.Clock.Now().UnixMilli() }

func newLeaseBase() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// codeErr turns a script's {code, message} reply into an error.
func codeErr(v any) error {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return nil
	}
	code, _ := arr[0].(string)
	msg := ""
	if len(arr) > 1 {
		msg, _ = arr[1].(string)
	}
	switch code {
	case "", "ok", "dup":
		return nil
	case "not_found":
		return ErrNotFound
	case "cancelled":
		return ErrCancelled
	default:
		return fmt.Errorf("%w: %s", ErrConflict, msg)
	}
}

// leaseScript pops up to max jobs of one model, round-robin across users,
// skipping jobs whose eligible list excludes the worker.
// A user already running max_user_jobs jobs of the model is skipped (0: no cap).
// KEYS[1] shard prefix  KEYS[2] rotation  KEYS[3] leases  KEYS[4] depth
// ARGV model worker now lease_ms max lease_base max_scan max_user_jobs coef
// Every job leased gets lease token lease_base.K (leaseToken; K says
// whether the job has a past and whether it holds a user slot) and deadline
// now + lease_ms: the caller knows both, so the reply leaves them out.
// A job's flag, max tokens, creation time and payload are one field, p =
// "Fmax created payload" (leasePartOf), written by the submit script; a
// job stored before that (separate fields) is read them in a second HMGET.
// returns a list with, for a first attempt with nothing streamed, one
// string "id user " .. p (ids, users and numbers hold no space; the
// payload is the rest: one reply item, not five, which is most of what
// returning a job costs), else {id, user, p, attempts, seg, next, tokens,
// {chunk...}}; then "." if the lease found no user with queued jobs (the
// model's queue is empty: the broker's polls may skip leasing until a
// wake-up)
var leaseScript = redis.NewScript(`
local call = redis.call -- a local: no global lookup per call
local prefix, model, worker = KEYS[1], ARGV[1], ARGV[2]
local now, leaseMs, max, base, maxScan = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local cap, urun, coef = tonumber(ARGV[8]), prefix .. 'urun:' .. model, ARGV[9]
local deadline = tostring(now + leaseMs) -- one conversion, not one per job
local coefN = tonumber(coef)
local jkp, uqp = prefix .. 'job:', prefix .. 'uq:' .. model .. '|' -- key prefixes, built once
-- A job's p starting with '-' has no eligible list and no coefficient
-- cap (the usual job: nothing more to read); '+' (or a job stored before
-- the flag, or before p) has its elig and mcoef fields read.
local function runs(jk, f)
  local p = f[3]
  if p and string.byte(p, 1) == 45 then return coefN <= 1000 end
  local o = call('HMGET', jk, 'elig', 'mcoef')
  local e, mc = o[1], o[2]
  return coefN <= tonumber(mc or '1000') and
    (not e or e == '' or string.find(',' .. e .. ',', ',' .. worker .. ',', 1, true)) ~= nil
end
-- Lease tokens: base.K, K one letter: f (first attempt, no user slot), g
-- (first attempt, a slot), r (a past, no slot), s (a past, a slot).
local kFirst, kPast = '.f', '.r'
if cap > 0 then kFirst, kPast = '.g', '.s' end
local out, leased, nout = {}, {}, 0 -- nout: jobs in out (# costs a search per use)
local scanned, taken, drained = 0, 0, false
while nout < max and scanned < maxScan do
  -- A round: the users at the head of the rotation take a turn each, in
  -- order, and move to its tail together (those whose queue ran empty
  -- leave it): two writes to the rotation per round, not per job.
  local users = call('LRANGE', KEYS[2], 0, max - nout - 1)
  if #users == 0 then
    drained = true
    break
  end
  local running = {}
  if cap > 0 then running = call('HMGET', urun, unpack(users)) end
  local keep, inc, ninc = {}, {}, 0 -- inc: the round's new running counts (user, count)
  for u, user in ipairs(users) do
    scanned = scanned + 1
    local uq = uqp .. user
    local id, f, jk = nil, nil, nil
    local more = true
    if cap == 0 or tonumber(running[u] or '0') < cap then
      -- The user's oldest job, if this worker may run it; else its oldest
      -- such job among the first 8, so a job sealed to other workers does
      -- not hold back the user's later jobs.
      -- (What every lease reads of a job; a job that ran before, its
      -- attempts field set, is also read its stream position and last
      -- coefficient below.)
      id = call('LPOP', uq)
      if id then
        jk = jkp .. id
        f = call('HMGET', jk, 'state', 'attempts', 'p')
        if f[1] == 'queued' and not runs(jk, f) then
          call('LPUSH', uq, id)
          id = nil
          for _, cand in ipairs(call('LRANGE', uq, 1, 7)) do
            jk = jkp .. cand
            f = call('HMGET', jk, 'state', 'attempts', 'p')
            if f[1] ~= 'queued' or runs(jk, f) then
              id = cand
              call('LREM', uq, 1, cand)
              break
            end
          end
        end
      end
      more = call('LLEN', uq) > 0
    end
    if more then keep[#keep + 1] = user end
    if id then
      taken = taken + 1
      if f[1] == 'queued' then -- else a stale queue entry (should not happen): dropped
        local p = f[3]
        if not p then -- stored before p: its fields one by one
          local o = call('HMGET', jk, 'max', 'created', 'payload')
          p = (o[1] or '0') .. ' ' .. (o[2] or '0') .. ' ' .. (o[3] or '')
        end
        local attempts, tries = 1, '1'
        local seg, nxt, tokens, pcoef = '0', '0', '0', coef
        if f[2] then
          attempts = tonumber(f[2]) + 1
          tries = tostring(attempts)
          local r = call('HMGET', jk, 'seg', 'next', 'tokens', 'coef')
          seg, nxt, tokens, pcoef = r[1] or '0', r[2] or '0', r[3] or '0', r[4] or '1000'
        end
        -- A job without a past (never leased: no attempts field) gets the
        -- short reply and a first-attempt token: its completion need not
        -- read the segment and earlier tokens, which are 0 (and missing:
        -- each a full scan of the hash to find out). A job with a past (a
        -- retry; a dead job requeued, attempts 0, whose event stream
        -- exists) has them read and gets its done event. The token also
        -- says whether the job holds a user slot, which the usual first
        -- lease does not write in the job.
        local long = f[2] ~= false
        local tok
        if long then tok = base .. kPast else tok = base .. kFirst end
        if cap > 0 then
          -- One write of the round's counts after it, not one per job.
          ninc = ninc + 2
          inc[ninc - 1] = user
          inc[ninc] = string.format('%d', tonumber(running[u] or '0') + 1) -- (%d: tostring goes through libc's float formatting, ~2k instructions)
        end
        -- A first lease leaves out what is at its default: attempts (a
        -- job that is not queued and has none has had one) and a
        -- coefficient of 1000; the usual one builds no table.
        if not f[2] and coef == '1000' then
          call('HSET', jk, 'state', 'leased', 'worker', worker, 'lease', tok)
        else
          local set = {'state', 'leased', 'worker', worker, 'lease', tok}
          if cap > 0 then set[7], set[8] = 'run', '1' end
          if coef ~= '1000' or f[2] then
            set[#set + 1] = 'coef'
            set[#set + 1] = coef
          end
          if f[2] then
            set[#set + 1] = 'attempts'
            set[#set + 1] = tries
          end
          if long then
            -- A job with a past (a retry, or a dead job requeued with fresh
            -- attempts after it streamed): a new segment, which its
            -- followers learn of; the counters a first attempt has at zero
            -- are set (ltok: the tokens earlier segments streamed).
            for _, kv in ipairs({'achunks', '0', 'ltok', tokens, 'pcoef', pcoef}) do set[#set + 1] = kv end
            if cap == 0 then
              set[#set + 1] = 'run'
              set[#set + 1] = '0'
            end
            call('XADD', prefix .. 'ev:' .. id, '*', 't', 'leased', 'w', worker, 'a', tries, 'g', seg)
          end
          call('HSET', jk, unpack(set))
        end
        leased[2 * nout + 1] = deadline
        leased[2 * nout + 2] = id
        nout = nout + 1
        if not long then
          out[nout] = id .. ' ' .. user .. ' ' .. p
        else
          local chunks = {}
          if tonumber(nxt) > 0 then
            for _, e in ipairs(call('XRANGE', prefix .. 'ev:' .. id, '-', '+')) do
              local kv = e[2]
              if kv[2] == 'chunk' then chunks[#chunks + 1] = kv end
            end
          end
          out[nout] = {id, user, p, tries, seg, nxt, tokens, chunks}
        end
      end
    end
  end
  if ninc > 0 then call('HSET', urun, unpack(inc)) end
  call('LPOP', KEYS[2], #users)
  if #keep > 0 then call('RPUSH', KEYS[2], unpack(keep)) end
end
if taken > 0 then call('DECRBY', KEYS[4], taken) end
if nout > 0 then call('ZADD', KEYS[3], unpack(leased)) end
if drained then out[nout + 1] = '.' end
return out
`)

// Lease takes up to max queued jobs of model for worker.
func (s *Store) Lease(ctx context.Context, model, worker string, max int) ([]wire.LeasedJob, error) {
	return s.LeaseAt(ctx, model, worker, max, 1000)
}

// LeaseAt is Lease for a worker charging coef (1000 = 1.0× the model
// price); the job records it for billing.
func (s *Store) LeaseAt(ctx context.Context, model, worker string, max, coef int) ([]wire.LeasedJob, error) {
	jobs, _, err := s.LeaseDrained(ctx, model, worker, max, coef)
	return jobs, err
}

// LeaseDrained is LeaseAt that also says whether the lease found the
// model's queue empty (no user with queued jobs).
func (s *Store) LeaseDrained(ctx context.Context, model, worker string, max, coef int) ([]wire.LeasedJob, bool, error) {
	c, l := s.leaseCall(model, worker, max, coef)
	return s.leased(l, c.script.Run(ctx, s.rdb, c.keys, c.args...))
}

// leaseParams is what a lease call decides that its reply leaves out.
type leaseParams struct {
	model string
	now   int64  // ms
	until int64  // every job's lease deadline, ms
	base  string // every job's lease token is base.K (leaseToken)
	slot  bool   // the jobs hold user slots (a per-user cap is set)
}

// leaseToken is the token of a job leased with l: base.K, K one letter,
// f (a first attempt), g (a first attempt holding a user slot), r (a job
// with a past), s (a past and a slot). The completion script reads the
// letter instead of the job's fields.
func (l leaseParams) leaseToken(first bool) string {
	switch {
	case first && l.slot:
		return l.base + ".g"
	case first:
		return l.base + ".f"
	case l.slot:
		return l.base + ".s"
	}
	return l.base + ".r"
}

// leaseCall builds a lease script call; leased decodes its reply.
func (s *Store) leaseCall(model, worker string, max, coef int) (scriptCall, leaseParams) {
	shard := wire.ShardOf(model)
	l := leaseParams{model: model, now: s.now(), base: newLeaseBase(), slot: s.cfg.MaxUserJobs > 0}
	l.until = l.now + s.cfg.Lease.Milliseconds()
	return scriptCall{script: leaseScript, once: true,
		keys: []string{shardPrefix(shard), rotationKey(shard, model), leasesKey(shard), depthKey(shard, model)},
		args: []any{model, worker, l.now, s.cfg.Lease.Milliseconds(), max, l.base, 4*max + 16, s.cfg.MaxUserJobs, coef}}, l
}

// leased decodes the reply of a lease call made with l; drained is the
// script's "queue empty" mark.
func (s *Store) leased(l leaseParams, cmd *redis.Cmd) (jobs []wire.LeasedJob, drained bool, err error) {
	model, now, until := l.model, l.now, l.until
	v, err := cmd.Slice()
	if err != nil {
		return nil, false, fmt.Errorf("lease %s: %w", model, err)
	}
	if n := len(v); n > 0 && v[n-1] == "." {
		v, drained = v[:n-1], true
	}
	jobs = make([]wire.LeasedJob, 0, len(v))
	for _, raw := range v {
		j := wire.LeasedJob{Model: model, LeaseUntil: until, Attempt: 1}
		var created int64
		switch f := raw.(type) {
		case string: // a job without a past: see leaseScript
			j.Lease = l.leaseToken(true)
			if !shortLease(f, &j, &created) {
				return nil, false, fmt.Errorf("lease %s: malformed script reply", model)
			}
		case []any:
			j.Lease = l.leaseToken(false)
			if len(f) != 8 || !leasePart(str(f[2]), &j, &created) {
				return nil, false, fmt.Errorf("lease %s: malformed script reply", model)
			}
			j.ID, j.User = str(f[0]), str(f[1])
			j.Attempt, j.Segment, j.NextSeq, j.Tokens = atoi(f[3]), atoi(f[4]), uint64(atoi(f[5])), atoi(f[6])
			for _, c := range f[7].([]any) {
				m := fieldMap(c.([]any))
				j.Prefix = append(j.Prefix, wire.Chunk{Seq: uint64(atoi(m["s"])), Data: []byte(m["d"]), Tokens: atoi(m["k"])})
			}
		default:
			return nil, false, fmt.Errorf("lease %s: malformed script reply", model)
		}
		if j.Attempt == 1 && created > 0 {
			obs.DispatchLatency.WithLabelValues(model).Observe(float64(now-created) / 1000)
		}
		jobs = append(jobs, j)
	}
	return jobs, drained, nil
}

// shortLease reads a first attempt's lease reply, "id user max created
// payload", into j and created.
func shortLease(s string, j *wire.LeasedJob, created *int64) bool {
	id, s, ok1 := strings.Cut(s, " ")
	user, s, ok2 := strings.Cut(s, " ")
	if !ok1 || !ok2 || id == "" {
		return false
	}
	j.ID, j.User = id, user
	return leasePart(s, j, created)
}

// leasePart reads a job's p field, "Fmax created payload" (leasePartOf;
// a job stored before the flag F has none), into j and created.
func leasePart(p string, j *wire.LeasedJob, created *int64) bool {
	if p != "" && (p[0] == '-' || p[0] == '+') {
		p = p[1:]
	}
	ms, p, ok1 := strings.Cut(p, " ")
	cs, payload, ok2 := strings.Cut(p, " ")
	max, err1 := strconv.Atoi(ms)
	c, err2 := strconv.ParseInt(cs, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return false
	}
	j.MaxTokens, j.Payload, *created = max, []byte(payload), c
	return true
}

// chunkScript appends one chunk to a job the worker holds.
// KEYS[1] job  KEYS[2] events
// ARGV worker lease seq data tokens
// returns {code, message}; code "" ok, "dup" already stored
var chunkScript = redis.NewScript(luaHolder + `
local bad = holder(KEYS[1], ARGV[1], ARGV[2])
if bad then return bad end
local seq = tonumber(ARGV[3])
local nxt = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
if seq < nxt then return {'dup', ''} end
if seq > nxt then return {'conflict', 'sequence gap: next is ' .. nxt} end
redis.call('XADD', KEYS[2], '*', 't', 'chunk', 's', ARGV[3], 'd', ARGV[4], 'k', ARGV[5])
redis.call('HSET', KEYS[1], 'next', nxt + 1, 'state', 'streaming')
redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'achunks', 1)
return {'', ''}
`)

// extendScript moves a held job's lease deadline.
// KEYS[1] job  KEYS[2] leases
// ARGV worker lease now lease_ms id
// returns {code, message}
var extendScript = redis.NewScript(luaHolder + `
local bad = holder(KEYS[1], ARGV[1], ARGV[2])
if bad then return bad end
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[5])
return {'', ''}
`)

// completeScript finishes jobs of one shard held by one worker: each
// holder's segment ends and its job is done. On a cancelled job it records
// the tokens used and answers "cancelled".
// A job's done event goes to its event stream when the stream is there or
// awaited: the job streamed (its state is streaming, or it has a past) or
// has a follower (its fol flag, set by followScript). A job nobody
// follows gets no stream (a key, an entry, its share of the AOF: an eighth
// of a no-op job's Redis work): its receipt, if any, is kept in its r
// field, and followScript answers a late follower from the job's fields.
// KEYS[1] shard prefix  KEYS[2] leases (a job's keys are the prefix's
// job:<id> and ev:<id>, in the same slot)
// Done jobs are not given a TTL one by one: they go to the shard's done
// list (ms, id pairs, in completion order: an append, where a sorted set
// insert costs a search and more memory), which PurgeFinished empties
// after the retention.
// ARGV worker now_ms, then per job: id lease prompt_tokens completion_tokens receipt
// returns {index, code, message} for each job (index from 0) not completed
// now or before: most calls return an empty list
var completeScript = redis.NewScript(luaHolder + luaToken + `
local call = redis.call -- a local: no global lookup per call
local prefix, leases, worker, now = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local out, ended, finished, slots = {}, {}, {}, {} -- slots: model -> user -> jobs ended
local nended = 0
local jkp, evp = prefix .. 'job:', prefix .. 'ev:' -- key prefixes, built once
for i = 0, (#ARGV - 2) / 5 - 1 do
  local a = 2 + 5 * i
  local id, lease, pt, ct, rcpt = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local jk = jkp .. id
  local f = call('HMGET', jk, 'state', 'worker', 'lease', 'rsv', 'fol', 'model', 'user')
  local bad = nil
  if not ((f[1] == 'leased' or f[1] == 'streaming') and f[2] == worker and f[3] == lease) then
    bad = held(f, worker, lease) -- (the check above is held's, inline for the usual case)
  end
  if bad then
    if bad[1] == 'cancelled' and call('HGET', jk, 'cused') ~= '1' then
      call('HINCRBY', jk, 'pt', pt)
      call('HINCRBY', jk, 'ct', ct)
      call('HSET', jk, 'cused', '1')
    end
    if bad[1] == 'conflict' and f[1] == 'done' and f[3] == lease then bad = {'dup', ''} end
    if bad[1] ~= 'dup' then out[#out + 1] = {i, bad[1], bad[2]} end
  else
    -- What the lease token says; an older broker's says nothing of the
    -- slot: the job's run flag does.
    local first, slot = tokenKind(lease)
    if slot == nil then slot = call('HGET', jk, 'run') == '1' end
    -- The answer's completion tokens: those streamed by earlier segments
    -- plus this segment's count. A job without a past has neither.
    local seg, total = '0', ct -- (numbers are passed to redis.call as strings: no conversion)
    if not first then
      local r = call('HMGET', jk, 'seg', 'ltok')
      seg = r[1] or '0'
      if r[2] and r[2] ~= '0' then total = tostring(tonumber(r[2]) + tonumber(ct)) end
    end
    local event = f[1] == 'streaming' or not first or f[5]
    -- (a done job's run flag is not read again: left as it is; rcpt is
    -- set only for a signed answer, missing is unsigned)
    if rcpt == '' then
      call('HSET', jk, 'state', 'done', 'pt', pt, 'ct', total)
    elseif event then
      call('HSET', jk, 'state', 'done', 'pt', pt, 'ct', total, 'rcpt', '1')
    else
      call('HSET', jk, 'state', 'done', 'pt', pt, 'ct', total, 'rcpt', '1', 'r', rcpt)
    end
    if f[4] and f[4] ~= '0' then call('RPUSH', prefix .. 'settle', id) end
    if slot then -- the job held one of its user's slots
      local m = slots[f[6]]
      if not m then
        m = {}
        slots[f[6]] = m
      end
      m[f[7]] = (m[f[7]] or 0) + 1
    end
    nended = nended + 1
    ended[nended] = id
    -- One event ends the job and its last segment: its fields in one
    -- value, "pt ct segment worker receipt" (decodeEvent), which costs a
    -- third of the five fields it replaces.
    if event then
      call('XADD', evp .. id, '*', 't', 'done', 'v', pt .. ' ' .. total .. ' ' .. seg .. ' ' .. worker .. ' ' .. rcpt)
    end
    finished[2 * nended - 1] = now
    finished[2 * nended] = id
  end
end
-- The users' running counts: one read and one write per model, not a
-- write per job (a count at 0 is deleted by the purge pass).
for model, m in pairs(slots) do
  local k, users = prefix .. 'urun:' .. model, {}
  for user in pairs(m) do users[#users + 1] = user end
  local cur, set = call('HMGET', k, unpack(users)), {}
  for i, user in ipairs(users) do
    set[#set + 1] = user
    set[#set + 1] = string.format('%d', tonumber(cur[i] or '0') - m[user]) -- (%d: tostring goes through libc's float formatting, ~2k instructions)
  end
  call('HSET', k, unpack(set))
end
if nended > 0 then
  call('ZREM', leases, unpack(ended))
  call('RPUSH', prefix .. 'done', unpack(finished))
end
return out
`)

// purgeScript deletes done jobs (hash and event stream) that finished
// before a time, at most limit of them, and the users' running counts
// that are back at 0 (a job's end only decrements its user's count: one
// write fewer per job than deleting it there). Done jobs are read from the
// head of the done list (brokers' clocks may differ a little: a pass stops
// at the first entry not old enough), then from the finished sorted set
// brokers before the list wrote, until it is empty.
// KEYS[1] shard prefix  ARGV before_ms limit
// returns how many jobs it deleted
var purgeScript = redis.NewScript(`
local prefix = KEYS[1]
local before, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local n = 0
local first = redis.call('LINDEX', prefix .. 'done', 0) -- most passes stop here
if first and tonumber(first) <= before then
  local head = redis.call('LRANGE', prefix .. 'done', 0, 2 * limit - 1)
  for i = 1, #head - 1, 2 do
    if tonumber(head[i]) > before then break end
    redis.call('DEL', prefix .. 'job:' .. head[i + 1], prefix .. 'ev:' .. head[i + 1])
    n = n + 1
  end
  redis.call('LTRIM', prefix .. 'done', 2 * n, -1)
end
if n < limit then
  local ids = redis.call('ZRANGEBYSCORE', prefix .. 'finished', '-inf', ARGV[1], 'LIMIT', 0, limit - n)
  for _, id in ipairs(ids) do
    redis.call('DEL', prefix .. 'job:' .. id, prefix .. 'ev:' .. id)
  end
  if #ids > 0 then redis.call('ZREM', prefix .. 'finished', unpack(ids)) end
  n = n + #ids
end
for _, model in ipairs(redis.call('SMEMBERS', prefix .. 'models')) do
  local k = prefix .. 'urun:' .. model
  local counts = redis.call('HGETALL', k)
  local idle = {}
  for i = 1, #counts, 2 do
    if tonumber(counts[i + 1]) <= 0 then table.insert(idle, counts[i]) end
    if #idle == 1000 or (i + 2 > #counts and #idle > 0) then
      redis.call('HDEL', k, unpack(idle))
      idle = {}
    end
  end
end
return n
`)

// PurgeFinished deletes up to limit done jobs of shard older than the
// retention and returns how many it deleted.
func (s *Store) PurgeFinished(ctx context.Context, shard, limit int) (int, error) {
	before := s.now() - s.cfg.Retention.Milliseconds()
	return purgeScript.Run(ctx, s.rdb, []string{shardPrefix(shard)}, before, limit).Int()
}

// failScript takes a job back from its holder: retry, dead letter or fail.
// KEYS[1] shard prefix  KEYS[2] job
// ARGV worker lease id reason retryable(0|1) now max_attempts backoff_ms max_backoff_ms ttl_ms
// returns {code, message}; message is the outcome (retry|dead|failed)
var failScript = redis.NewScript(luaHolder + luaRequeue + `
local bad = holder(KEYS[2], ARGV[1], ARGV[2])
if bad then return bad end
local out = requeue(KEYS[1], ARGV[3], ARGV[4], tonumber(ARGV[6]), ARGV[5] == '1',
  tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]))
return {'', out}
`)

// Chunk appends a chunk to job id for the holding worker.
func (s *Store) Chunk(ctx context.Context, worker string, r *wire.Report) error {
	rr := *r
	rr.Kind = wire.ReportChunk
	return s.ApplyReports(ctx, worker, []*wire.Report{&rr})[0].Err
}

// Extend moves the lease deadline of a job worker holds.
func (s *Store) Extend(ctx context.Context, worker, job, lease string) error {
	return s.ApplyReports(ctx, worker, []*wire.Report{{Kind: wire.ReportExtend, Job: job, Lease: lease}})[0].Err
}

// Complete marks the job done with the worker's token counts.
func (s *Store) Complete(ctx context.Context, worker string, r *wire.Report) error {
	rr := *r
	rr.Kind = wire.ReportComplete
	return s.ApplyReports(ctx, worker, []*wire.Report{&rr})[0].Err
}

// Fail hands a job back: retried with backoff when retryable and attempts
// remain, dead-lettered when they do not, failed when not retryable. It
// returns the outcome.
func (s *Store) Fail(ctx context.Context, worker, job, lease, reason string, retryable bool) (string, error) {
	o := s.ApplyReports(ctx, worker, []*wire.Report{{Kind: wire.ReportFail, Job: job, Lease: lease, Error: reason, Retryable: retryable}})[0]
	return o.Outcome, o.Err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

func atoi(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

func fieldMap(kv []any) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[str(kv[i])] = str(kv[i+1])
	}
	return m
}

func joinComma(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// maxCoef is the most price coefficient a job accepts (1000 when unset).
func maxCoef(r *wire.SubmitRequest) int {
	if r.MaxCoef <= 0 {
		return 1000
	}
	return r.MaxCoef
}
