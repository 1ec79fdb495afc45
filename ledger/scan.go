package ledger

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scan returns every key matching pattern: on Redis Cluster from every master.
func (l *Ledger) scan(ctx context.Context, pattern string) ([]string, error) {
	if cc, ok := l.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		var all []string
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			keys, err := scanOne(ctx, c, pattern)
			mu.Lock()
			all = append(all, keys...)
			mu.Unlock()
			return err
		})
		return all, err
	}
	return scanOne(ctx, l.rdb, pattern)
}

func scanOne(ctx context.Context, c redis.Cmdable, pattern string) ([]string, error) {
	var out []string
	it := c.Scan(ctx, 0, pattern, 1000).Iterator()
	for it.Next(ctx) {
		out = append(out, it.Val())
	}
	return out, it.Err()
}

// ids returns the distinct user or worker ids among keys matching open+"*".
func (l *Ledger) ids(ctx context.Context, pattern, open string) ([]string, error) {
	keys, err := l.scan(ctx, pattern)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		if id, ok := idFromKey(k, open); ok && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// Users lists every user the ledger has keys for.
func (l *Ledger) Users(ctx context.Context) ([]string, error) {
	return l.ids(ctx, userKeysMatch, userOpen)
}

// Workers lists every worker the ledger has keys for (for the payout batcher).
func (l *Ledger) Workers(ctx context.Context) ([]string, error) {
	return l.ids(ctx, workerKeysMatch, workerOpen)
}
