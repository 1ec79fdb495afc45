package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RewriteAOF makes every master with appendonly on rewrite its AOF from
// memory, and waits until that is done. Call it when the broker starts, after
// Redis may have restarted from a truncated AOF (a power cut): Redis 7.0's
// aof-load-truncated loads such a file correctly the first time, but when the
// cut fell inside a script's MULTI/EXEC block it leaves that block open in
// the file, and the writes appended next would be merged into it on the
// following restart (fixed upstream in Valkey, "Fix malformed AOF after a
// short read in MULTI"). A rewrite replaces the damaged file. With AOF off it
// does nothing.
func (l *Ledger) RewriteAOF(ctx context.Context) error {
	if cc, ok := l.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return rewriteAOF(ctx, c) })
	}
	return rewriteAOF(ctx, l.rdb)
}

func rewriteAOF(ctx context.Context, c redis.Cmdable) error {
	info, err := persistence(ctx, c)
	if err != nil {
		return err
	}
	if info["aof_enabled"] != "1" {
		return nil
	}
	if err := c.BgRewriteAOF(ctx).Err(); err != nil && !strings.Contains(err.Error(), "already in progress") {
		return fmt.Errorf("ledger: BGREWRITEAOF: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		info, err := persistence(ctx, c)
		if err != nil {
			return err
		}
		if info["aof_rewrite_in_progress"] == "0" && info["aof_rewrite_scheduled"] == "0" {
			if s := info["aof_last_bgrewrite_status"]; s != "ok" {
				return fmt.Errorf("ledger: AOF rewrite status %q", s)
			}
			return nil
		}
	}
}

func persistence(ctx context.Context, c redis.Cmdable) (map[string]string, error) {
	s, err := c.Info(ctx, "persistence").Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: INFO persistence: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}
