package broker

import (
	"context"
	"time"

	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/wire"
)

// recoverer re-queues jobs whose lease expired and releases retries whose
// backoff has passed, for every shard, every RecoverEvery. Several brokers
// may run it at once: each pass is one atomic script per shard.
func (b *Broker) recoverer(ctx context.Context) {
	t := time.NewTicker(b.cfg.RecoverEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.recoverOnce(ctx)
	}
}

func (b *Broker) recoverOnce(ctx context.Context) {
	b.passes++
	purge := b.passes%8 == 0 // done jobs past the retention: every 8th pass (2 s by default)
	requeuedIn := map[int]bool{}
	for shard := 0; shard < wire.NumShards; shard++ {
		if purge {
			for {
				n, err := b.store.PurgeFinished(ctx, shard, 500)
				if err != nil && ctx.Err() == nil {
					b.log.Warn("purge finished jobs", "shard", shard, "err", err)
				}
				if err != nil || n < 500 {
					break
				}
			}
		}
		expired, requeued, err := b.store.Recover(ctx, shard)
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("recover", "shard", shard, "err", err)
			}
			continue
		}
		if expired > 0 {
			obs.Jobs.WithLabelValues(obs.OutcomeLeaseExpired).Add(float64(expired))
			b.log.Info("leases expired", "shard", shard, "jobs", expired)
		}
		if requeued > 0 {
			requeuedIn[shard] = true
		}
	}
	if len(requeuedIn) > 0 {
		b.wakeShards(ctx, requeuedIn)
	}
}

// janitor refreshes the worker pool from Redis and drops expired workers.
func (b *Broker) janitor(ctx context.Context) {
	t := time.NewTicker(b.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := b.reg.refresh(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("registry refresh", "err", err)
		}
	}
}

// wakeShards wakes every poll on the models of shards, here and (through
// the notify channel, in one pipelined round trip) at the other brokers,
// after jobs of those shards were queued again: a requeue is made by one
// broker, and the others' polls may have marked the queue drained.
func (b *Broker) wakeShards(ctx context.Context, shards map[int]bool) {
	pipe := b.cfg.Redis.Pipeline()
	for _, m := range b.reg.models() {
		if shards[wire.ShardOf(m.Name)] {
			b.notify.notify(m.Name)
			pipe.Publish(ctx, notifyChannel, b.store.origin+"|"+m.Name)
		}
	}
	if pipe.Len() == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil && ctx.Err() == nil {
		b.log.Warn("publish wake-ups", "err", err)
	}
}

// wakeLocal wakes every poll of this broker (at shutdown: to answer them).
func (b *Broker) wakeLocal() {
	for _, m := range b.reg.models() {
		b.notify.notify(m.Name)
	}
}
