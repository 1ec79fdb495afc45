package ledger

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Source says where credited money came from; each is a term of the invariant.
type Source string

// Credit sources.
const (
	SourceTON    Source = "ton"    // a TON transfer to the deposit address; op id = tx hash
	SourceStars  Source = "stars"  // a Telegram Stars payment, converted; op id = telegram_payment_charge_id
	SourceEscrow Source = "escrow" // a deposit into an API client's escrow contract; op id = tx hash
	SourceTrial  Source = "trial"  // the starting credit; op id must be TrialOpID
)

// Sources lists every credit source in report order.
var Sources = []Source{SourceTON, SourceStars, SourceEscrow, SourceTrial}

// TrialOpID is the only op id a SourceTrial credit may use, so each user gets
// the trial once.
const TrialOpID = "trial"

func (s Source) valid() bool {
	for _, x := range Sources {
		if s == x {
			return true
		}
	}
	return false
}

// Receipt is the result of a user or worker operation. A repeat of an
// operation id returns the first result with Duplicate set and changes nothing.
type Receipt struct {
	Amount    int64 // nanoTON the operation moved
	Balance   int64 // available balance (for payouts: unpaid earnings) right after the first run
	Duplicate bool
}

// splitRecord splits a stored op record into n fields.
func splitRecord(rec string, n int) ([]string, error) {
	f := strings.Split(rec, "|")
	if len(f) != n {
		return nil, fmt.Errorf("%w: op record %q", ErrCorrupt, rec)
	}
	return f, nil
}

// amountRecord parses "amount|balance".
func amountRecord(rec string) (Receipt, error) {
	f, err := splitRecord(rec, 2)
	if err != nil {
		return Receipt{}, err
	}
	a, err1 := parseI64("amount", f[0])
	b, err2 := parseI64("balance", f[1])
	if err1 != nil || err2 != nil {
		return Receipt{}, fmt.Errorf("%w: op record %q", ErrCorrupt, rec)
	}
	return Receipt{Amount: a, Balance: b}, nil
}

// creditScript adds a deposit to a user's balance and to the user's deposit
// total for its source, once per op key.
//
//	KEYS[1] balance  KEYS[2] ops  KEYS[3] user totals
//	ARGV[1] op key   ARGV[2] amount  ARGV[3] totals field (the source)
//	returns {"ok", balance} | {"dup", record} | {"overflow", balance}
var creditScript = redis.NewScript(luaLib + `
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if rec then return {'dup', rec} end
local bal = redis.call('GET', KEYS[1]) or '0'
local tot = redis.call('HGET', KEYS[3], ARGV[3]) or '0'
if not fits(bal, ARGV[2]) or not fits(tot, ARGV[2]) then return {'overflow', bal} end
redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3], ARGV[2])
bal = redis.call('GET', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. bal)
return {'ok', bal}
`)

// Credit adds amount nanoTON from src to user's available balance, exactly
// once per (src, opID): the TON transaction hash, the Stars
// telegram_payment_charge_id, the escrow deposit's hash, or TrialOpID. A
// repeat with the same amount returns the first receipt; with another amount
// it fails with ErrConflict (a trial repeat never conflicts: the setting may
// have changed since).
func (l *Ledger) Credit(ctx context.Context, user, opID string, src Source, amount int64) (Receipt, error) {
	if err := validID("user", user); err != nil {
		return Receipt{}, err
	}
	if err := validID("op id", opID); err != nil {
		return Receipt{}, err
	}
	if !src.valid() {
		return Receipt{}, fmt.Errorf("%w: %q (want ton, stars, escrow or trial)", ErrInvalidSource, src)
	}
	if src == SourceTrial && opID != TrialOpID {
		return Receipt{}, fmt.Errorf("%w: a trial credit uses op id %q, not %q", ErrInvalidID, TrialOpID, opID)
	}
	if err := validAmount("credit", amount); err != nil {
		return Receipt{}, err
	}
	r, err := l.run(ctx, creditScript, []string{keyBalance(user), keyOps(user), keyUserTotals(user)},
		opCredit(src, opID), i64(amount), string(src))
	if err != nil {
		return Receipt{}, fmt.Errorf("ledger: credit %s %s for user %s: %w", src, opID, user, err)
	}
	switch r[0] {
	case "ok":
		b, err := parseI64("balance", r[1])
		return Receipt{Amount: amount, Balance: b}, err
	case "dup":
		rc, err := amountRecord(r[1])
		if err != nil {
			return Receipt{}, err
		}
		if rc.Amount != amount && src != SourceTrial {
			return Receipt{}, fmt.Errorf("%w: %s credit %s for user %s was %d nanoTON, now %d", ErrConflict, src, opID, user, rc.Amount, amount)
		}
		rc.Duplicate = true
		return rc, nil
	case "overflow":
		return Receipt{}, fmt.Errorf("%w: credit of %d to user %s", ErrOverflow, amount, user)
	}
	return Receipt{}, fmt.Errorf("%w: credit reply %q", ErrCorrupt, r[0])
}

// GrantTrial credits the starting credit (COCOON_TRIAL_CREDIT_NANOTON) once
// per user; later calls return the first receipt with Duplicate set. Callers
// skip it when the setting is 0.
func (l *Ledger) GrantTrial(ctx context.Context, user string, amount int64) (Receipt, error) {
	return l.Credit(ctx, user, TrialOpID, SourceTrial, amount)
}

// escrowRefundScript takes money back out of a user's balance when the API
// client withdraws what is left in its escrow contract, once per refund id.
// It never refunds more than the user's escrow deposits minus earlier refunds.
//
//	KEYS[1] balance  KEYS[2] ops  KEYS[3] user totals
//	ARGV[1] op key   ARGV[2] amount  ARGV[3] escrow deposits field  ARGV[4] escrow refunds field
//	returns {"ok", balance} | {"dup", record} | {"insufficient", balance} | {"escrow", deposited, refunded}
var escrowRefundScript = redis.NewScript(luaLib + `
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if rec then return {'dup', rec} end
local bal = redis.call('GET', KEYS[1]) or '0'
if not ge(bal, ARGV[2]) then return {'insufficient', bal} end
local dep = redis.call('HGET', KEYS[3], ARGV[3]) or '0'
local ref = redis.call('HGET', KEYS[3], ARGV[4]) or '0'
if not ge(dep, add(ref, ARGV[2])) then return {'escrow', dep, ref} end
redis.call('DECRBY', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[4], ARGV[2])
bal = redis.call('GET', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. bal)
return {'ok', bal}
`)

// EscrowRefund records that amount left the service because the API client
// withdrew the rest of its escrow (refundID: the withdrawal's tx hash). It
// debits the user's available balance and adds to the escrow-refunds term,
// once per refundID; it refuses more than the user's available balance or
// than its escrow deposits minus earlier escrow refunds.
func (l *Ledger) EscrowRefund(ctx context.Context, user, refundID string, amount int64) (Receipt, error) {
	return l.refund(ctx, user, refundID, amount, SourceEscrow, fieldEscrowRefund)
}

// StarsRefund records that a Telegram Stars payment went back to the user
// (refundID: "refund:<telegram_payment_charge_id>"). Like EscrowRefund it
// debits the available balance once per refundID, refuses more than the
// balance or than the user's Stars deposits minus earlier Stars refunds,
// and adds to the Stars-refunds term of the invariant.
func (l *Ledger) StarsRefund(ctx context.Context, user, refundID string, amount int64) (Receipt, error) {
	return l.refund(ctx, user, refundID, amount, SourceStars, fieldStarsRefund)
}

func (l *Ledger) refund(ctx context.Context, user, refundID string, amount int64, src Source, field string) (Receipt, error) {
	if err := validID("user", user); err != nil {
		return Receipt{}, err
	}
	if err := validID("refund id", refundID); err != nil {
		return Receipt{}, err
	}
	if err := validAmount("escrow refund", amount); err != nil {
		return Receipt{}, err
	}
	r, err := l.run(ctx, escrowRefundScript, []string{keyBalance(user), keyOps(user), keyUserTotals(user)},
		opRefund(refundID), i64(amount), string(src), field)
	if err != nil {
		return Receipt{}, fmt.Errorf("ledger: %s refund %s for user %s: %w", src, refundID, user, err)
	}
	switch r[0] {
	case "ok":
		b, err := parseI64("balance", r[1])
		return Receipt{Amount: amount, Balance: b}, err
	case "dup":
		rc, err := amountRecord(r[1])
		if err != nil {
			return Receipt{}, err
		}
		if rc.Amount != amount {
			return Receipt{}, fmt.Errorf("%w: escrow refund %s for user %s was %d nanoTON, now %d", ErrConflict, refundID, user, rc.Amount, amount)
		}
		rc.Duplicate = true
		return rc, nil
	case "insufficient":
		b, err := parseI64("balance", r[1])
		if err != nil {
			return Receipt{}, err
		}
		return Receipt{}, &InsufficientBalanceError{User: user, Balance: b, Needed: amount}
	case "escrow":
		return Receipt{}, fmt.Errorf("%w: %s refund of %d for user %s exceeds %s deposits %s minus refunds %s", ErrInvalidAmount, src, amount, user, src, r[1], r[2])
	}
	return Receipt{}, fmt.Errorf("%w: escrow refund reply %q", ErrCorrupt, r[0])
}
