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
			b.wakeAll(ctx)
		}
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

// wakeAll wakes every poll, here and (through the notify channel) at the
// other brokers, after jobs were queued again: a requeue is made by one
// broker's recoverer, and the others' polls may have marked the queue
// drained.
func (b *Broker) wakeAll(ctx context.Context) {
	b.wakeLocal()
	for _, m := range b.reg.models() {
		if err := b.cfg.Redis.Publish(ctx, notifyChannel, b.store.origin+"|"+m.Name).Err(); err != nil && ctx.Err() == nil {
			b.log.Warn("publish wake-up", "model", m.Name, "err", err)
		}
	}
}

// wakeLocal wakes every poll of this broker (at shutdown: to answer them).
func (b *Broker) wakeLocal() {
	for _, m := range b.reg.models() {
		b.notify.notify(m.Name)
	}
}
