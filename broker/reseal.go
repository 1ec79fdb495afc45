package broker

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/wire"
)

// ResealReason is the error of a job failed because none of the workers it
// was sealed to is left: its submitter seals it again for new candidates.
const ResealReason = "reseal: no eligible worker is live"

// resealer fails queued jobs none of whose eligible workers is still in the
// pool, so their submitters reseal them for the workers there are now
// instead of waiting forever. It looks at the head of each user's queue
// (jobs behind it are checked when they reach the head).
func (b *Broker) resealer(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		live := map[string]bool{}
		for _, w := range b.reg.live() {
			if !w.Draining {
				live[w.ID] = true
			}
		}
		if err := b.forEachRotation(ctx, func(key string) { b.resealHeads(ctx, key, live) }); err != nil && ctx.Err() == nil {
			b.log.Warn("resealer", "err", err)
		}
	}
}

// forEachRotation calls fn with every model rotation key: the models each
// shard has had queues for, and the models live workers serve (for queues
// made before shards kept their model sets).
func (b *Broker) forEachRotation(ctx context.Context, fn func(key string)) error {
	models := map[string]bool{}
	for _, m := range b.reg.models() {
		models[m.Name] = true
	}
	for shard := 0; shard < wire.NumShards; shard++ {
		ms, err := b.cfg.Redis.SMembers(ctx, modelsKey(shard)).Result()
		if err != nil {
			return err
		}
		for _, m := range ms {
			models[m] = true
		}
	}
	for m := range models {
		fn(rotationKey(wire.ShardOf(m), m))
	}
	return nil
}

func (b *Broker) resealHeads(ctx context.Context, rotKey string, live map[string]bool) {
	prefix, model, ok := strings.Cut(rotKey, "rot:")
	if !ok {
		return
	}
	users, err := b.cfg.Redis.LRange(ctx, rotKey, 0, 999).Result()
	if err != nil {
		return
	}
	for _, u := range users {
		id, err := b.cfg.Redis.LIndex(ctx, prefix+"uq:"+model+"|"+u, 0).Result()
		if err != nil {
			continue
		}
		elig, err := b.cfg.Redis.HGet(ctx, prefix+"job:"+id, "elig").Result()
		if err != nil || elig == "" {
			continue
		}
		alive := false
		for _, w := range strings.Split(elig, ",") {
			alive = alive || live[w]
		}
		if !alive {
			if err := b.store.FailQueued(ctx, id, ResealReason); err == nil {
				b.log.Info("job sealed only to departed workers: asked its submitter to reseal", "job", id)
			}
		}
	}
}

// failQueuedScript fails a queued job (out of its queue) with a reason.
// KEYS[1] shard prefix  KEYS[2] job  KEYS[3] events
// ARGV id reason ttl_ms
// returns 1 | 0 (not queued)
var failQueuedScript = redis.NewScript(luaBill + `
local f = redis.call('HMGET', KEYS[2], 'state', 'model', 'user')
if f[1] ~= 'queued' then return 0 end
local uq = KEYS[1] .. 'uq:' .. f[2] .. '|' .. f[3]
if redis.call('LREM', uq, 1, ARGV[1]) > 0 then
  redis.call('DECR', KEYS[1] .. 'depth:' .. f[2])
  if redis.call('LLEN', uq) == 0 then redis.call('LREM', KEYS[1] .. 'rot:' .. f[2], 1, f[3]) end
else
  redis.call('ZREM', KEYS[1] .. 'retry', ARGV[1])
end
redis.call('HSET', KEYS[2], 'state', 'failed', 'err', ARGV[2])
redis.call('XADD', KEYS[3], '*', 't', 'failed', 'e', ARGV[2])
bill(KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
`)

// FailQueued fails a job that is still queued (not yet leased).
func (s *Store) FailQueued(ctx context.Context, id, reason string) error {
	shard, err := wire.ParseJobID(id)
	if err != nil {
		return ErrNotFound
	}
	n, err := failQueuedScript.Run(ctx, s.rdb, []string{shardPrefix(shard), jobKey(shard, id), eventsKey(shard, id)},
		id, reason, s.cfg.Retention.Milliseconds()).Int()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrConflict
	}
	return nil
}
