package ton

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"
)

var (
	ErrBatchNotFound = errors.New("payout batch not found")
	// ErrBatchConflict means another payer saved the batch first; reload it.
	ErrBatchConflict = errors.New("payout batch was changed by another payer")
)

// PayoutStore persists payout batches. SaveBatch is a compare-and-set on
// Batch.Version, so two payers can never both sign and send one batch.
type PayoutStore interface {
	// SaveBatch stores b if the stored version is still b.Version (0 for a
	// new batch) and then increments b.Version; ErrBatchConflict otherwise.
	SaveBatch(ctx context.Context, b *Batch) error
	LoadBatch(ctx context.Context, id string) (*Batch, error)
	// OpenBatches returns the batches not yet done, oldest first.
	OpenBatches(ctx context.Context) ([]*Batch, error)
}

// RedisPayouts is a PayoutStore on Redis (cocoon:{ton}:payout:*).
type RedisPayouts struct {
	rdb redis.UniversalClient
}

// NewRedisPayouts returns a PayoutStore on rdb.
func NewRedisPayouts(rdb redis.UniversalClient) *RedisPayouts {
	return &RedisPayouts{rdb: rdb}
}

// saveBatchScript is a compare-and-set of one batch plus its open-set entry.
//
// KEYS[1] batch hash, KEYS[2] open set
// ARGV[1] batch id, ARGV[2] expected version, ARGV[3] new version,
// ARGV[4] batch JSON, ARGV[5] "1" when the batch is still open
// returns 1 when saved, 0 on a version conflict
var saveBatchScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v') or '0'
if v ~= ARGV[2] then
	return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'json', ARGV[4])
if ARGV[5] == '1' then
	redis.call('SADD', KEYS[2], ARGV[1])
else
	redis.call('SREM', KEYS[2], ARGV[1])
end
return 1
`)

// SaveBatch implements PayoutStore.
func (s *RedisPayouts) SaveBatch(ctx context.Context, b *Batch) error {
	next := *b
	next.Version++
	js, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	open := "0"
	if b.State != BatchDone {
		open = "1"
	}
	ok, err := saveBatchScript.Run(ctx, s.rdb, []string{payoutBatchKey(b.ID), payoutOpenKey()},
		b.ID, strconv.FormatInt(b.Version, 10), strconv.FormatInt(next.Version, 10), js, open).Int()
	if err != nil {
		return fmt.Errorf("save payout batch %s: %w", b.ID, err)
	}
	if ok == 0 {
		return fmt.Errorf("save payout batch %s: %w", b.ID, ErrBatchConflict)
	}
	b.Version = next.Version
	return nil
}

// LoadBatch implements PayoutStore.
func (s *RedisPayouts) LoadBatch(ctx context.Context, id string) (*Batch, error) {
	js, err := s.rdb.HGet(ctx, payoutBatchKey(id), "json").Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: %s", ErrBatchNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("load payout batch %s: %w", id, err)
	}
	var b Batch
	if err := json.Unmarshal([]byte(js), &b); err != nil {
		return nil, fmt.Errorf("payout batch %s: %w", id, err)
	}
	return &b, nil
}

// OpenBatches implements PayoutStore.
func (s *RedisPayouts) OpenBatches(ctx context.Context) ([]*Batch, error) {
	ids, err := s.rdb.SMembers(ctx, payoutOpenKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list open payout batches: %w", err)
	}
	out := make([]*Batch, 0, len(ids))
	for _, id := range ids {
		b, err := s.LoadBatch(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created < out[j].Created })
	return out, nil
}
