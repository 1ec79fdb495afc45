package broker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/wire"
)

// intentGrace is how old a billed submit's intent must be before the
// reconciler asks whether its job was queued: past the longest a submit
// runs after writing it (reserveBudget + storeTimeout) and a submitter's
// retries with the same id (the submit package retries at once), which
// find the reservation held. It leaves room for one reserve call begun
// just inside reserveBudget and running into its client's timeouts.
const intentGrace = time.Minute

// A billed submit writes an intent (job id -> "ms|payer", in the job's
// shard) before it reserves the job's money, and the submit script deletes
// it when it stores the job (or finds it stored). An intent left behind
// tells of a reservation whose job may not exist: the broker crashed
// between reserving and storing, the store's reply was lost or timed out,
// Redis went down. Any broker's reconciler (reconcileIntents, from the
// recoverer) then asks the job store: a job it has keeps its reservation
// and is settled when it ends; a job it does not have gets its reservation
// undone (ledger.Unreserve: the id can be reserved again). A job queued
// after that check (a retry whose duplicate reserve came just before the
// undo) is reserved again by the settler when it ends.

// intend records that payer's submit of job id is about to reserve money.
func (s *Store) intend(ctx context.Context, shard int, id, payer string) error {
	return s.rdb.HSet(ctx, intentsKey(shard), id, strconv.FormatInt(s.now(), 10)+"|"+payer).Err()
}

// dropIntent deletes job id's intent.
func (s *Store) dropIntent(ctx context.Context, shard int, id string) error {
	return s.rdb.HDel(ctx, intentsKey(shard), id).Err()
}

// scanIntents reads a shard's intents from cursor on (HSCAN): job id ->
// "ms|payer", and the cursor to go on from (0: the end).
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

// reconcileIntents resolves a shard's intents older than intentGrace at
// now; what the job store or the ledger cannot answer for waits for the
// next pass. It runs in the recoverer's goroutine.
func (b *Broker) reconcileIntents(ctx context.Context, shard int, now time.Time) {
	kv, next, err := b.store.scanIntents(ctx, shard, b.intentCursor[shard])
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn("read submit intents", "shard", shard, "err", err)
		}
		return
	}
	b.intentCursor[shard] = next
	for id, v := range kv {
		ms, payer, ok := strings.Cut(v, "|")
		at, perr := strconv.ParseInt(ms, 10, 64)
		if !ok || perr != nil || payer == "" {
			b.log.Error("malformed submit intent dropped", "job", id, "value", v)
			b.store.dropIntent(ctx, shard, id)
			continue
		}
		if now.Sub(time.UnixMilli(at)) < intentGrace {
			continue
		}
		_, err := b.store.Get(ctx, id)
		switch {
		case err == nil: // queued after all: its reservation is settled when it ends
		case errors.Is(err, ErrNotFound):
			rc, err := b.cfg.Money.Ledger.Unreserve(ctx, payer, id)
			if err != nil && !errors.Is(err, ledger.ErrNoReservation) {
				if !errors.Is(err, ledger.ErrInvalidID) && !errors.Is(err, ledger.ErrOverflow) {
					b.log.Warn("give back a reservation whose job was never queued: next pass", "job", id, "err", err)
					continue
				}
				b.log.Error("reservation of a job never queued cannot be given back", "job", id, "payer", payer, "err", err)
			} else if err == nil {
				b.log.Info("reservation of a job never queued given back", "job", id, "payer", payer, "amount", rc.Amount)
			}
		default:
			continue // the store cannot tell now
		}
		if err := b.store.dropIntent(ctx, shard, id); err != nil && ctx.Err() == nil {
			b.log.Warn("drop a submit intent", "job", id, "err", err)
		}
	}
}

// unreserve undoes the reservation payer holds for a job that was never
// queued, and its intent; the same job id can then be reserved again.
func (b *Broker) unreserve(ctx context.Context, payer string, req *wire.SubmitRequest) error {
	if b.cfg.Money == nil {
		return nil
	}
	if _, err := b.cfg.Money.Ledger.Unreserve(ctx, payer, req.ID); err != nil && !errors.Is(err, ledger.ErrNoReservation) {
		return err
	}
	return b.store.dropIntent(ctx, wire.ShardOf(req.Model), req.ID)
}
