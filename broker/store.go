package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
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
	rdb redis.UniversalClient
	cfg StoreConfig
}

// NewStore returns a Store on rdb (a *redis.Client or *redis.ClusterClient).
func NewStore(rdb redis.UniversalClient, cfg StoreConfig) *Store {
	cfg.setDefaults()
	return &Store{rdb: rdb, cfg: cfg}
}

// Sentinel errors of the store. Worker-facing ones map to wire codes.
var (
	ErrNotFound  = errors.New("unknown job")
	ErrConflict  = errors.New("conflict")
	ErrCancelled = errors.New("job was cancelled")
	ErrBusy      = errors.New("queue is full")
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

// submitScript stores a queued job and puts it in its user's queue.
// KEYS[1] job  KEYS[2] rotation  KEYS[3] user queue  KEYS[4] depth
// ARGV id model user max_tokens prompt_bytes eligible payload now max_queue reserved max_coef
// returns {1, position} stored | {0, 0} already stored (idempotent) | {-1, depth} busy
var submitScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
local maxq = tonumber(ARGV[9])
local depth = tonumber(redis.call('GET', KEYS[4]) or '0')
if maxq > 0 and depth >= maxq then return {-1, depth} end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', 'queued', 'model', ARGV[2], 'user', ARGV[3],
  'max', ARGV[4], 'pb', ARGV[5], 'elig', ARGV[6], 'payload', ARGV[7], 'created', ARGV[8],
  'attempts', 0, 'next', 0, 'tokens', 0, 'seg', 0, 'achunks', 0, 'pt', 0, 'ct', 0, 'rsv', ARGV[10], 'mcoef', ARGV[11])
local n = redis.call('RPUSH', KEYS[3], ARGV[1])
if n == 1 then redis.call('RPUSH', KEYS[2], ARGV[3]) end
redis.call('INCR', KEYS[4])
redis.call('PUBLISH', 'cocoon:notify', ARGV[2])
return {1, n - 1}
`)

// Submit stores a validated job as queued. It returns the job's position in
// its user's queue. Submitting the same id again changes nothing.
func (s *Store) Submit(ctx context.Context, r *wire.SubmitRequest) (int, error) {
	return s.SubmitReserved(ctx, r, 0)
}

// SubmitReserved is Submit for a job holding a ledger reservation: when it
// ends, it is queued for the settler.
func (s *Store) SubmitReserved(ctx context.Context, r *wire.SubmitRequest, reserved int64) (int, error) {
	shard := wire.ShardOf(r.Model)
	elig := joinComma(r.Eligible)
	res, err := submitScript.Run(ctx, s.rdb,
		[]string{jobKey(shard, r.ID), rotationKey(shard, r.Model), userQueueKey(shard, r.Model, r.User), depthKey(shard, r.Model)},
		r.ID, r.Model, r.User, r.MaxTokens, r.PromptBytes, elig, r.Payload, s.now(), s.cfg.MaxQueue, reserved, maxCoef(r)).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("submit %s: %w", r.ID, err)
	}
	if res[0] == -1 {
		return int(res[1]), ErrBusy
	}
	return int(res[1]), nil
}

// leaseScript pops up to max jobs of one model, round-robin across users,
// skipping jobs whose eligible list excludes the worker.
// A user already running max_user_jobs jobs of the model is skipped (0: no cap).
// KEYS[1] shard prefix  KEYS[2] rotation  KEYS[3] leases  KEYS[4] depth
// ARGV model worker now lease_ms max lease_base max_scan max_user_jobs coef
// returns a list of {id, user, max, payload, lease, deadline, attempts, seg, next, tokens, {chunk...}}
var leaseScript = redis.NewScript(`
local prefix, model, worker = KEYS[1], ARGV[1], ARGV[2]
local now, leaseMs, max, base, maxScan = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local cap, urun, coef = tonumber(ARGV[8]), prefix .. 'urun:' .. model, ARGV[9]
local out = {}
local scanned = 0
while #out < max and scanned < maxScan do
  local user = redis.call('LPOP', KEYS[2])
  if not user then break end
  scanned = scanned + 1
  local uq = prefix .. 'uq:' .. model .. '|' .. user
  local id = nil
  if cap > 0 and tonumber(redis.call('HGET', urun, user) or '0') >= cap then
    redis.call('RPUSH', KEYS[2], user) -- at its cap: its turn passes
  else
    -- The user's oldest job this worker may run, among the first 8: a job
    -- sealed to other workers does not hold back the user's later jobs.
    for _, cand in ipairs(redis.call('LRANGE', uq, 0, 7)) do
      local g = redis.call('HMGET', prefix .. 'job:' .. cand, 'elig', 'mcoef')
      local e = g[1]
      local priced = tonumber(coef) <= tonumber(g[2] or '1000')
      if priced and (not e or e == '' or string.find(',' .. e .. ',', ',' .. worker .. ',', 1, true)) then
        id = cand
        redis.call('LREM', uq, 1, cand)
        break
      end
    end
    if not id and redis.call('LLEN', uq) > 0 then
      redis.call('RPUSH', KEYS[2], user) -- nothing for this worker: next user
    end
  end
  if id then
    local jk = prefix .. 'job:' .. id
    local f = redis.call('HMGET', jk, 'elig', 'attempts', 'seg', 'next', 'tokens', 'max', 'payload', 'state', 'created', 'coef', 'mcoef')
    if f[8] ~= 'queued' then
      -- stale queue entry (should not happen): drop it
      if redis.call('LLEN', uq) > 0 then redis.call('RPUSH', KEYS[2], user) end
      redis.call('DECR', KEYS[4])
    else
      if redis.call('LLEN', uq) > 0 then redis.call('RPUSH', KEYS[2], user) end
      redis.call('DECR', KEYS[4])
      local attempts = tonumber(f[2]) + 1
      local lease = base .. '.' .. #out
      local deadline = now + leaseMs
      redis.call('HSET', jk, 'state', 'leased', 'worker', worker, 'lease', lease, 'deadline', deadline,
        'attempts', attempts, 'achunks', 0, 'ltok', f[5], 'run', '1', 'coef', coef, 'pcoef', f[10] or coef)
      redis.call('HINCRBY', urun, user, 1)
      redis.call('ZADD', KEYS[3], deadline, id)
      local ev = prefix .. 'ev:' .. id
      redis.call('XADD', ev, '*', 't', 'leased', 'w', worker, 'a', attempts, 'g', f[3])
      local chunks = {}
      if tonumber(f[4]) > 0 then
        for _, e in ipairs(redis.call('XRANGE', ev, '-', '+')) do
          local kv = e[2]
          if kv[2] == 'chunk' then table.insert(chunks, kv) end
        end
      end
      table.insert(out, {id, user, f[6], f[7], lease, deadline, attempts, f[3], f[4], f[5], chunks, f[9] or '0'})
    end
  end
end
return out
`)

// Lease takes up to max queued jobs of model for worker.
func (s *Store) Lease(ctx context.Context, model, worker string, max int) ([]wire.LeasedJob, error) {
	return s.LeaseAt(ctx, model, worker, max, 1000)
}

// LeaseAt is Lease for a worker charging coef (1000 = 1.0× the model
// price); the job records it for billing.
func (s *Store) LeaseAt(ctx context.Context, model, worker string, max, coef int) ([]wire.LeasedJob, error) {
	shard := wire.ShardOf(model)
	v, err := leaseScript.Run(ctx, s.rdb,
		[]string{shardPrefix(shard), rotationKey(shard, model), leasesKey(shard), depthKey(shard, model)},
		model, worker, s.now(), s.cfg.Lease.Milliseconds(), max, newLeaseBase(), 4*max+16, s.cfg.MaxUserJobs, coef).Slice()
	if err != nil {
		return nil, fmt.Errorf("lease %s: %w", model, err)
	}
	jobs := make([]wire.LeasedJob, 0, len(v))
	for _, raw := range v {
		f := raw.([]any)
		j := wire.LeasedJob{
			ID: str(f[0]), Model: model, User: str(f[1]), MaxTokens: atoi(f[2]),
			Payload: []byte(str(f[3])), Lease: str(f[4]), LeaseUntil: int64(atoi(f[5])),
			Attempt: atoi(f[6]), Segment: atoi(f[7]), NextSeq: uint64(atoi(f[8])), Tokens: atoi(f[9]),
		}
		for _, c := range f[10].([]any) {
			m := fieldMap(c.([]any))
			j.Prefix = append(j.Prefix, wire.Chunk{Seq: uint64(atoi(m["s"])), Data: []byte(m["d"]), Tokens: atoi(m["k"])})
		}
		if created := int64(atoi(f[11])); j.Attempt == 1 && created > 0 {
			obs.DispatchLatency.WithLabelValues(model).Observe(float64(s.now()-created) / 1000)
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// chunkScript appends one chunk to a job the worker holds.
// KEYS[1] job  KEYS[2] events
// ARGV worker lease seq data tokens
// returns {code, message}; code "" ok, "dup" already stored
var chunkScript = redis.NewScript(luaHolder + `
local bad = holder(KEYS[1], ARGV[1], ARGV[2])
if bad then return bad end
local seq = tonumber(ARGV[3])
local nxt = tonumber(redis.call('HGET', KEYS[1], 'next'))
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
local deadline = tonumber(ARGV[3]) + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'deadline', deadline)
redis.call('ZADD', KEYS[2], deadline, ARGV[5])
return {'', ''}
`)

// completeScript finishes a job: the holder's segment ends and the job is done.
// On a cancelled job it records the tokens used and answers "cancelled".
// KEYS[1] job  KEYS[2] events  KEYS[3] leases  KEYS[4] shard prefix
// ARGV worker lease prompt_tokens completion_tokens receipt ttl_ms id
// returns {code, message}
var completeScript = redis.NewScript(luaHolder + luaBill + luaUnrun + `
local bad = holder(KEYS[1], ARGV[1], ARGV[2])
if bad then
  if bad[1] == 'cancelled' and redis.call('HGET', KEYS[1], 'cused') ~= '1' then
    redis.call('HINCRBY', KEYS[1], 'pt', ARGV[3])
    redis.call('HINCRBY', KEYS[1], 'ct', ARGV[4])
    redis.call('HSET', KEYS[1], 'cused', '1')
  end
  if bad[1] == 'conflict' and redis.call('HGET', KEYS[1], 'state') == 'done' and
     redis.call('HGET', KEYS[1], 'lease') == ARGV[2] then
    return {'dup', ''}
  end
  return bad
end
-- The answer's completion tokens: those streamed by earlier segments plus
-- this segment's count.
local f = redis.call('HMGET', KEYS[1], 'seg', 'ltok')
local pt = tonumber(ARGV[3])
local ct = tonumber(f[2] or '0') + tonumber(ARGV[4])
local rcpt = '0'
if ARGV[5] ~= '' then rcpt = '1' end
redis.call('HSET', KEYS[1], 'state', 'done', 'pt', pt, 'ct', ct, 'rcpt', rcpt)
bill(KEYS[4], ARGV[7])
unrun(KEYS[4], KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[7])
redis.call('XADD', KEYS[2], '*', 't', 'segment', 'w', ARGV[1], 'g', f[1], 'pt', ARGV[3], 'ct', ARGV[4], 'r', ARGV[5])
redis.call('XADD', KEYS[2], '*', 't', 'done', 'pt', pt, 'ct', ct)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {'', ''}
`)

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
