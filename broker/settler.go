package broker

import (
	"context"
	"errors"
	"time"

	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/wire"
)

// settler bills every job that ended. The scripts that end a job push its
// id to the shard's settle list in the same atomic step; the settler
// settles or releases it in the ledger (idempotent by job id), records the
// cost on the job, and only then removes it from the list. A crash in
// between settles again, which the ledger ignores.
func (b *Broker) settler(ctx context.Context) {
	if b.cfg.Money == nil {
		return
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for shard := 0; shard < wire.NumShards; shard++ {
			ids, err := b.cfg.Redis.LRange(ctx, settleKey(shard), 0, 99).Result()
			if err != nil {
				continue
			}
			for _, id := range ids {
				if err := b.settle(ctx, shard, id); err != nil {
					if ctx.Err() == nil {
						b.log.Error("settle", "job", id, "err", err)
					}
					continue
				}
				b.cfg.Redis.LRem(ctx, settleKey(shard), 1, id)
			}
		}
	}
}

func (b *Broker) settle(ctx context.Context, shard int, id string) error {
	m := b.cfg.Money
	v, err := b.cfg.Redis.HMGet(ctx, jobKey(shard, id), "state", "user", "model", "worker", "pt", "ct", "ltok", "rcpt", "rsv", "tokens", "coef", "pcoef").Result()
	if err != nil {
		return err
	}
	if v[0] == nil {
		return nil // expired long ago: nothing to bill
	}
	state, user, model, worker := str(v[0]), str(v[1]), str(v[2]), str(v[3])
	if user, err = b.payer(ctx, user); err != nil {
		return err
	}
	pt, ct, ltok := int64(atoi(v[4])), int64(atoi(v[5])), int64(atoi(v[6]))
	_ = ct
	signed, reserved := str(v[7]) == "1", int64(atoi(v[8]))
	coef, pcoef := coefOf(v[10]), coefOf(v[11])
	var segs []ledger.SegmentUsage
	switch state {
	case wire.StateDone:
		if ltok > 0 { // streamed by workers that died: the user got it, the operator is paid
			segs = append(segs, ledger.SegmentUsage{WorkerID: "-", CompletionTokens: ltok, Coef: pcoef})
		}
		segs = append(segs, ledger.SegmentUsage{WorkerID: worker, PromptTokens: pt, CompletionTokens: max(ct-ltok, 0),
			Coef: coef, Signed: signed})
	case wire.StateCancelled:
		// A cancel charges the tokens streamed before it (the broker counted
		// them); the prompt is not charged as the answer was not finished.
		if streamed := int64(atoi(v[9])); streamed > 0 {
			segs = append(segs, ledger.SegmentUsage{WorkerID: worker, CompletionTokens: streamed, Coef: coef})
		}
	}
	price, perr := m.Prices.Lookup(model)
	var s ledger.Settlement
	if len(segs) > 0 && perr == nil {
		s, err = ledger.NewSettlement(user, id, model, price, m.CommissionBP, segs)
		if err != nil && !errors.Is(err, ledger.ErrInvalidAmount) {
			return err
		}
	}
	cost := int64(0)
	if len(segs) == 0 || perr != nil || err != nil {
		_, err = m.Ledger.Release(ctx, user, id)
	} else {
		clampTo(&s, reserved)
		cost = s.Charge
		_, err = m.Ledger.Settle(ctx, s)
	}
	if cost > 0 && reserved > 0 && errors.Is(err, ledger.ErrNoReservation) {
		// Its reservation was undone as never queued, and then a retry with
		// its id, whose duplicate reserve came just before, queued it
		// (intents.go): the job ran, so it reserves again and is charged.
		if _, err = m.Ledger.Reserve(ctx, user, id, reserved); err == nil {
			_, err = m.Ledger.Settle(ctx, s)
		}
	}
	if cost > 0 && (errors.Is(err, ledger.ErrNoReservation) || errors.Is(err, ledger.ErrJobClosed) ||
		errors.Is(err, ledger.ErrInsufficientBalance)) {
		// Nothing to charge from (or a job from before billing was on,
		// which reserved nothing): the job's cost says so.
		if reserved > 0 {
			b.log.Warn("job ended without a reservation: not charged", "job", id, "user", user, "cost", cost, "err", err)
		}
		cost, err = 0, nil
	}
	if err != nil && !errors.Is(err, ledger.ErrJobClosed) && !errors.Is(err, ledger.ErrNoReservation) {
		return err
	}
	return b.cfg.Redis.HSet(ctx, jobKey(shard, id), "cost", cost).Err()
}

// clampTo keeps a settlement within the reservation: the reservation assumes
// at least one byte per token, which a tokenizer can beat; the operator
// absorbs the difference first, then the workers.
func clampTo(s *ledger.Settlement, reserved int64) {
	excess := s.Charge - reserved
	if reserved <= 0 || excess <= 0 {
		return
	}
	s.Charge = reserved
	cut := min(excess, s.Operator)
	s.Operator -= cut
	excess -= cut
	for i := len(s.Segments) - 1; i >= 0 && excess > 0; i-- {
		cut := min(excess, s.Segments[i].Amount)
		s.Segments[i].Amount -= cut
		excess -= cut
	}
	kept := s.Segments[:0]
	for _, g := range s.Segments {
		if g.Amount > 0 {
			kept = append(kept, g)
		}
	}
	s.Segments = kept
}

// coefOf reads a job's recorded price coefficient (1.0× when missing).
func coefOf(v any) int64 {
	if c := int64(atoi(v)); c > 0 {
		return c
	}
	return ledger.CoefOne
}
