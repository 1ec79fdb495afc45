package bot

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stars payments waiting for the broker: a payment is recorded as pending
// before the first credit attempt, so neither a broker outage nor a bot
// restart loses it; the retry loop here credits what is left, with the
// amount fixed when the payment arrived (a changed COCOON_STARS_NANOTON
// does not change it, and the ledger's idempotency by charge id keeps a
// retry from crediting twice).

// pendCreditScript records a payment as pending unless it is known.
// KEYS[1] paid hash  KEYS[2] pending hash
// ARGV[1] charge id  ARGV[2] the record (JSON)
// returns the record that counts: the paid one, else the pending one
// (ARGV[2] if there was none)
var pendCreditScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then return v end
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[2], ARGV[1])
`)

// pendCredit records c as pending and returns the record that counts: an
// earlier one of the same charge (paid or pending) wins, with its amount.
func (s *store) pendCredit(ctx context.Context, c starsCredit) (starsCredit, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return c, err
	}
	v, err := pendCreditScript.Run(ctx, s.rdb, []string{starsPaidKey, starsPendingKey}, c.Charge, raw).Text()
	if err != nil {
		return c, err
	}
	var got starsCredit
	if err := json.Unmarshal([]byte(v), &got); err != nil || got.Charge != c.Charge {
		return c, errors.New("a stored Stars payment does not decode")
	}
	return got, nil
}

// settleCredit moves c from pending to paid.
func (s *store) settleCredit(ctx context.Context, c starsCredit) error {
	return s.moveCredit(ctx, starsPaidKey, c)
}

// failCredit moves c from pending to failed (for an operator).
func (s *store) failCredit(ctx context.Context, c starsCredit) error {
	return s.moveCredit(ctx, starsFailedKey, c)
}

func (s *store) moveCredit(ctx context.Context, to string, c starsCredit) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, to, c.Charge, raw)
		p.HDel(ctx, starsPendingKey, c.Charge)
		return nil
	})
	return err
}

// paidCredit returns the credited payment of charge, if any.
func (s *store) paidCredit(ctx context.Context, charge string) (starsCredit, bool, error) {
	v, err := s.rdb.HGet(ctx, starsPaidKey, charge).Result()
	if errors.Is(err, redis.Nil) {
		return starsCredit{}, false, nil
	}
	if err != nil {
		return starsCredit{}, false, err
	}
	var c starsCredit
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return starsCredit{}, false, err
	}
	return c, true, nil
}

// pendingCredits lists the payments not credited yet.
func (s *store) pendingCredits(ctx context.Context) ([]starsCredit, error) {
	m, err := s.rdb.HGetAll(ctx, starsPendingKey).Result()
	if err != nil {
		return nil, err
	}
	out := make([]starsCredit, 0, len(m))
	for charge, v := range m {
		var c starsCredit
		if err := json.Unmarshal([]byte(v), &c); err != nil || c.Charge != charge {
			continue // never written by this code; left for an operator
		}
		out = append(out, c)
	}
	return out, nil
}

// recordRefund remembers an admin refund.
func (s *store) recordRefund(ctx context.Context, charge string, r starsRefund) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.rdb.HSet(ctx, starsRefundKey, charge, raw).Err()
}

// retryCredits retries pending Stars credits every CreditRetry until ctx
// ends.
func (b *Bot) retryCredits(ctx context.Context) {
	t := time.NewTicker(b.cfg.CreditRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.retryPendingCredits(ctx)
	}
}

// retryPendingCredits makes one pass over the pending payments, leaving
// those younger than half a period (their first attempt may be running).
func (b *Bot) retryPendingCredits(ctx context.Context) {
	cs, err := b.st.pendingCredits(ctx)
	if err != nil {
		b.log.Warn("list pending Stars credits", "err", err)
		return
	}
	for _, c := range cs {
		if time.Since(time.UnixMilli(c.AtMs)) < b.cfg.CreditRetry/2 || ctx.Err() != nil {
			continue
		}
		resp, outcome, err := b.creditStars(ctx, c)
		in := incoming{User: c.User, Private: c.Chat == c.User, Place: place{Chat: c.Chat, Group: c.Chat < 0}, Conv: conv{Chat: c.Chat}}
		lang := b.resolve(ctx, in).Lang
		switch {
		case outcome == creditDone && !resp.Duplicate:
			b.say(ctx, in, T(lang, "payment_credited", c.Stars, tonText(c.Amount), tonText(resp.Balance)))
		case outcome == creditRefused:
			ref := newRef()
			b.log.Error("the broker refused a Stars credit", "ref", ref, "user", c.User, "charge", c.Charge, "err", err)
			b.say(ctx, in, T(lang, "payment_failed", ref))
		}
	}
}
