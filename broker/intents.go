package broker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/wire"
)

// A billed submit writes an intent (job id -> "ms|payer|nonce", in the
// job's shard) before it reserves the job's money, and the submit script
// deletes it when it stores the job (or finds it stored). An intent left
// behind tells of a reservation whose job may not exist: the broker crashed
// between reserving and storing, the store's reply was lost or timed out,
// Redis went down. Any broker's reconciler then asks the job store: a job
// it has keeps its reservation and is settled when it ends; a job it does
// not have gets its reservation undone (ledger.Unreserve: the id can be
// reserved again). A job queued after that check (a retry whose duplicate
// reserve came just before the undo) is reserved again by the settler when
// it ends. Intents change only by compare-and-set (casIntent), so nobody
// deletes or resolves an intent another submit or broker wrote since.

// intentGrace is how old an intent must be before the reconciler takes it
// for one left behind: far past the longest a submit runs after writing it
// (reserveBudget, one reserve call begun just inside it and running into
// its Redis client's timeouts and retries, then the store), a submitter's
// retries with the same id, and the skew between brokers' clocks.
const intentGrace = 5 * time.Minute

// reconcileBudget bounds one look for intents left behind (a slow ledger
// must not hold it); a broker looks every 20 recoverer passes (5 s by
// default).
const reconcileBudget = 30 * time.Second

// casIntentScript replaces (or, with an empty new value, deletes) a job's
// intent if it still holds the value the caller read: KEYS[1] intents,
// ARGV[1] job id, ARGV[2] old value, ARGV[3] new value; returns 1 if done.
var casIntentScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`)

// intentValue is an intent's value: the time it was written, the paying
// account and a nonce that tells one submit's intent from another's.
func (s *Store) intentValue(payer string) string {
	return strconv.FormatInt(s.now(), 10) + "|" + payer + "|" + randHex(4)
}

// intend records that payer's submit of job id is about to reserve money;
// it returns the value written, for casIntent.
func (s *Store) intend(ctx context.Context, shard int, id, payer string) (string, error) {
	v := s.intentValue(payer)
	return v, s.rdb.HSet(ctx, intentsKey(shard), id, v).Err()
}

// casIntent sets job id's intent to next ("" deletes it) if it still is
// old, and tells whether it did.
func (s *Store) casIntent(ctx context.Context, shard int, id, old, next string) (bool, error) {
	n, err := casIntentScript.Run(ctx, s.rdb, []string{intentsKey(shard)}, id, old, next).Int()
	return n == 1, err
}

// dropIntent deletes job id's intent if it still is intent.
func (s *Store) dropIntent(ctx context.Context, shard int, id, intent string) error {
	_, err := s.casIntent(ctx, shard, id, intent, "")
	return err
}

// scanIntents reads a page of a shard's intents from cursor on (HSCAN):
// job id -> value, and the cursor to go on from (0: the end).
func (s *Store) scanIntents(ctx context.Context, shard int, cursor uint64) (map[string]string, uint64, error) {
	kv, next, err := s.rdb.HScan(ctx, intentsKey(shard), cursor, "", 256).Result()
	if err != nil {
		return nil, 0, err
	}
	out := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out, next, nil
}

// reconciler looks for intents left behind every 20 recoverer passes until
// ctx ends, in its own goroutine: a slow ledger holds it, not the recoverer.
func (b *Broker) reconciler(ctx context.Context) {
	t := time.NewTicker(20 * b.cfg.RecoverEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, reconcileBudget)
		for shard := 0; shard < wire.NumShards && pctx.Err() == nil; shard++ {
			if err := b.reconcileIntents(pctx, shard, b.cfg.Store.Clock.Now()); err != nil {
				if ctx.Err() == nil {
					b.log.Warn("reconcile submit intents: next look", "shard", shard, "err", err)
				}
				break // Redis or the ledger cannot answer: every shard would wait the same
			}
		}
		cancel()
	}
}

// reconcileIntents resolves a shard's intents older than intentGrace at
// now, a page at a time to the end of the hash. It stops at the first
// error the job store or the ledger gives; what it did not resolve waits
// for the next look.
func (b *Broker) reconcileIntents(ctx context.Context, shard int, now time.Time) error {
	var cursor uint64
	for {
		kv, next, err := b.store.scanIntents(ctx, shard, cursor)
		if err != nil {
			return err
		}
		for id, v := range kv {
			if err := b.reconcileIntent(ctx, shard, id, v, now); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// reconcileIntent resolves one intent if it is old enough. It first claims
// it (the value replaced by a fresh one of its own), so one broker alone
// resolves it; a claimer that dies leaves a claim that ages like an intent.
func (b *Broker) reconcileIntent(ctx context.Context, shard int, id, v string, now time.Time) error {
	ms, rest, _ := strings.Cut(v, "|")
	payer, _, _ := strings.Cut(rest, "|")
	at, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || payer == "" {
		b.log.Error("malformed submit intent dropped", "job", id, "value", v)
		return b.store.dropIntent(ctx, shard, id, v)
	}
	if now.Sub(time.UnixMilli(at)) < intentGrace {
		return nil
	}
	claim := b.store.intentValue(payer)
	if ok, err := b.store.casIntent(ctx, shard, id, v, claim); err != nil || !ok {
		return err // changed since the scan: another submit or broker has it
	}
	_, err = b.store.Get(ctx, id)
	switch {
	case err == nil: // queued after all: its reservation is settled when it ends
	case errors.Is(err, ErrNotFound):
		rc, err := b.cfg.Money.Ledger.Unreserve(ctx, payer, id)
		switch {
		case err == nil:
			b.log.Info("reservation of a job never queued given back", "job", id, "payer", payer, "amount", rc.Amount)
		case errors.Is(err, ledger.ErrNoReservation):
		case errors.Is(err, ledger.ErrInvalidID), errors.Is(err, ledger.ErrOverflow), errors.Is(err, ledger.ErrCorrupt):
			b.log.Error("reservation of a job never queued cannot be given back; see cocoon admin user", "job", id, "payer", payer, "err", err)
		default:
			return err // the claim ages; the next look after intentGrace tries again
		}
	default:
		return err
	}
	return b.store.dropIntent(ctx, shard, id, claim)
}

// unreserve undoes the reservation payer holds for a job the queue
// refused, and deletes the submit's intent if it is still the one the
// submit wrote; the same job id can then be reserved again.
func (b *Broker) unreserve(ctx context.Context, payer, intent string, req *wire.SubmitRequest) error {
	if b.cfg.Money == nil {
		return nil
	}
	if _, err := b.cfg.Money.Ledger.Unreserve(ctx, payer, req.ID); err != nil && !errors.Is(err, ledger.ErrNoReservation) {
		return err
	}
	return b.store.dropIntent(ctx, wire.ShardOf(req.Model), req.ID, intent)
}
