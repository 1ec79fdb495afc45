package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/wire"
)

// recoverScript re-queues jobs whose lease expired (retry, dead letter) and
// moves retries whose backoff has passed back into their user's queue.
// KEYS[1] shard prefix  KEYS[2] leases  KEYS[3] retry
// ARGV now max_attempts backoff_ms max_backoff_ms ttl_ms limit
// returns {expired, requeued}
var recoverScript = redis.NewScript(luaRequeue + luaEnqueue + `
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[6])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(expired) do
  requeue(KEYS[1], id, 'lease expired', now, true, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
end
local ready = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
local n = 0
for _, id in ipairs(ready) do
  redis.call('ZREM', KEYS[3], id)
  n = n + enqueue(KEYS[1], id)
end
return {#expired, n}
`)

// Recover runs one recovery pass over one shard. It returns how many leases
// had expired and how many retries went back to their queues.
func (s *Store) Recover(ctx context.Context, shard int) (expired, requeued int, err error) {
	v, err := recoverScript.Run(ctx, s.rdb, []string{shardPrefix(shard), leasesKey(shard), retryKey(shard)},
		s.now(), s.cfg.MaxAttempts, s.cfg.Backoff.Milliseconds(), s.cfg.MaxBackoff.Milliseconds(),
		s.cfg.Retention.Milliseconds(), 1000).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("recover shard %d: %w", shard, err)
	}
	return int(v[0]), int(v[1]), nil
}

// cancelScript cancels a job. A queued job leaves its queue; a running one
// is marked cancelled and its worker is told on its next report.
// KEYS[1] shard prefix  KEYS[2] job  KEYS[3] events
// ARGV id ttl_ms
// returns the state before the call ("" if unknown)
var cancelScript = redis.NewScript(luaBill + luaUnrun + `
local prefix, id = KEYS[1], ARGV[1]
local f = redis.call('HMGET', KEYS[2], 'state', 'model', 'user')
if not f[1] then return '' end
local st = f[1]
if st == 'queued' then
  if redis.call('ZREM', prefix .. 'retry', id) == 0 then
    local uq = prefix .. 'uq:' .. f[2] .. '|' .. f[3]
    if redis.call('LREM', uq, 1, id) > 0 then
      redis.call('DECR', prefix .. 'depth:' .. f[2])
      if redis.call('LLEN', uq) == 0 then redis.call('LREM', prefix .. 'rot:' .. f[2], 1, f[3]) end
    end
  end
elseif st == 'leased' or st == 'streaming' then
  redis.call('ZREM', prefix .. 'leases', id)
  unrun(prefix, KEYS[2])
elseif st == 'dead' then
  redis.call('LREM', prefix .. 'dead', 1, id)
else
  return st
end
redis.call('HSET', KEYS[2], 'state', 'cancelled')
redis.call('XADD', KEYS[3], '*', 't', 'cancelled')
bill(prefix, id)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return st
`)

// Cancel cancels job id and returns the state it was in. Cancelling a
// finished job changes nothing.
func (s *Store) Cancel(ctx context.Context, id string) (string, error) {
	shard, err := wire.ParseJobID(id)
	if err != nil {
		return "", ErrNotFound
	}
	st, err := cancelScript.Run(ctx, s.rdb, []string{shardPrefix(shard), jobKey(shard, id), eventsKey(shard, id)},
		id, s.cfg.Retention.Milliseconds()).Text()
	if err != nil {
		return "", fmt.Errorf("cancel %s: %w", id, err)
	}
	if st == "" {
		return "", ErrNotFound
	}
	return st, nil
}

// requeueDeadScript gives a dead-lettered job a fresh set of attempts.
// KEYS[1] shard prefix  KEYS[2] job
// ARGV id
// returns 1 requeued | 0 not dead
var requeueDeadScript = redis.NewScript(luaEnqueue + `
if redis.call('HGET', KEYS[2], 'state') ~= 'dead' then return 0 end
redis.call('LREM', KEYS[1] .. 'dead', 1, ARGV[1])
redis.call('HSET', KEYS[2], 'state', 'queued', 'attempts', 0)
return enqueue(KEYS[1], ARGV[1])
`)

// RequeueDead moves a dead-lettered job back to its queue.
func (s *Store) RequeueDead(ctx context.Context, id string) error {
	shard, err := wire.ParseJobID(id)
	if err != nil {
		return ErrNotFound
	}
	n, err := requeueDeadScript.Run(ctx, s.rdb, []string{shardPrefix(shard), jobKey(shard, id)}, id).Int()
	if err != nil {
		return fmt.Errorf("requeue %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: job %s is not dead", ErrConflict, id)
	}
	return nil
}

// Dead lists dead-lettered job ids of a shard.
func (s *Store) Dead(ctx context.Context, shard int) ([]string, error) {
	return s.rdb.LRange(ctx, deadKey(shard), 0, -1).Result()
}

// reserved is the nanoTON a job reserved at submit (0 for an unbilled or
// unknown job).
func (s *Store) reserved(ctx context.Context, id string) (int64, error) {
	shard, err := wire.ParseJobID(id)
	if err != nil {
		return 0, nil
	}
	n, err := s.rdb.HGet(ctx, jobKey(shard, id), "rsv").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// Get returns a job's status.
func (s *Store) Get(ctx context.Context, id string) (*wire.JobStatus, error) {
	shard, err := wire.ParseJobID(id)
	if err != nil {
		return nil, ErrNotFound
	}
	v, err := s.rdb.HMGet(ctx, jobKey(shard, id), "state", "model", "user", "worker", "attempts", "next", "pt", "ct", "err", "cost").Result()
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	if v[0] == nil {
		return nil, ErrNotFound
	}
	st := &wire.JobStatus{ID: id, State: str(v[0]), Model: str(v[1]), User: str(v[2]), Worker: str(v[3]),
		Attempts: atoi(v[4]), NextSeq: uint64(atoi(v[5])), PromptTokens: atoi(v[6]), CompletionTokens: atoi(v[7]),
		Error: str(v[8])}
	if v[4] == nil && st.Worker != "" {
		st.Attempts = 1 // a first lease leaves attempts out
	}
	if v[9] != nil {
		c := int64(atoi(v[9]))
		st.Cost = &c
	}
	return st, nil
}

// Depth returns how many jobs of model wait in its queue.
func (s *Store) Depth(ctx context.Context, model string) (int, error) {
	n, err := s.rdb.Get(ctx, depthKey(wire.ShardOf(model), model)).Int()
	if err == redis.Nil {
		return 0, nil
	}
	return n, err
}
