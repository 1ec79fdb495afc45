package ledger

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// AggregatorConfig configures an Aggregator; the zero value means the defaults.
type AggregatorConfig struct {
	Interval time.Duration // how often to drain the pending-users hint set (default 200ms)
	Sweep    time.Duration // how often to scan every user's outbox (default 1m; also once at start)
	Batch    int           // users taken from the hint set per round (default 100)
	Logger   *slog.Logger  // default slog.Default()
}

// Aggregator is the background loop that applies settled outbox entries to
// worker earnings and operator revenue. Several may run (one per broker
// process): ApplyOutbox is exactly-once regardless.
type Aggregator struct {
	l    *Ledger
	cfg  AggregatorConfig
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// NewAggregator returns a stopped Aggregator for l.
func (l *Ledger) NewAggregator(cfg AggregatorConfig) *Aggregator {
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Aggregator{l: l, cfg: cfg}
}

// Start runs the loop until ctx ends or Shutdown is called.
func (a *Aggregator) Start(ctx context.Context) {
	ctx, a.stop = context.WithCancel(ctx)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.sweep(ctx)
		tick := time.NewTicker(a.cfg.Interval)
		defer tick.Stop()
		sweep := time.NewTicker(a.cfg.Sweep)
		defer sweep.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				a.drain(ctx)
			case <-sweep.C:
				a.sweep(ctx)
			}
		}
	}()
}

// Shutdown stops the loop and waits for the round in progress; entries left
// in outboxes stay there, safe, for the next run.
func (a *Aggregator) Shutdown() {
	if a.stop != nil {
		a.stop()
	}
	a.wg.Wait()
}

// drain applies the outboxes of users in the pending hint set.
func (a *Aggregator) drain(ctx context.Context) {
	for ctx.Err() == nil {
		users, err := a.l.rdb.SPopN(ctx, keyPending(), int64(a.cfg.Batch)).Result()
		if err != nil {
			if ctx.Err() == nil {
				a.cfg.Logger.Warn("ledger aggregator: pop pending", "err", err)
			}
			return
		}
		for _, u := range users {
			if _, err := a.l.ApplyOutbox(ctx, u); err != nil {
				a.cfg.Logger.Warn("ledger aggregator: apply outbox", "user", u, "err", err)
				a.l.notePending(context.WithoutCancel(ctx), u)
			}
		}
		if len(users) < a.cfg.Batch {
			return
		}
	}
}

// sweep applies every outbox found by scanning, catching entries whose hint
// was lost (a crash right after Settle).
func (a *Aggregator) sweep(ctx context.Context) {
	n, err := a.l.ApplyAllOutboxes(ctx)
	if err != nil && ctx.Err() == nil {
		a.cfg.Logger.Warn("ledger aggregator: sweep", "err", err, "applied", n)
	}
}

// ApplyAllOutboxes scans for every user with outbox entries and applies them.
// It returns the number of entries moved.
func (l *Ledger) ApplyAllOutboxes(ctx context.Context) (int, error) {
	keys, err := l.scan(ctx, outboxKeysMatch)
	if err != nil {
		return 0, err
	}
	total := 0
	var first error
	for _, k := range keys {
		u, ok := idFromKey(k, userOpen)
		if !ok {
			continue
		}
		n, err := l.ApplyOutbox(ctx, u)
		total += n
		if err != nil && first == nil {
			first = err
		}
	}
	return total, first
}
