package ledger

import (
	"context"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"
)

// PayoutState is where a worker payout stands.
type PayoutState string

// Payout states: reserved (in flight on TON), then confirmed or failed.
const (
	PayoutInFlight  PayoutState = "reserved"
	PayoutConfirmed PayoutState = "confirmed"
	PayoutFailed    PayoutState = "failed"
)

// Payout is the bookkeeping of one worker payout. Another component sends it
// on TON; the ledger only moves the amount earnings -> in flight -> paid out
// (or back to earnings when it failed).
type Payout struct {
	ID        string
	Worker    string
	Amount    int64
	State     PayoutState
	Earnings  int64 // the worker's unpaid earnings right after the payout was reserved
	Duplicate bool  // the call changed nothing: the payout was already in the asked state
}

func parsePayout(worker, id, rec string) (Payout, error) {
	f, err := splitRecord(rec, 3)
	if err != nil {
		return Payout{}, err
	}
	st := PayoutState(f[0])
	if st != PayoutInFlight && st != PayoutConfirmed && st != PayoutFailed {
		return Payout{}, fmt.Errorf("%w: payout record %q", ErrCorrupt, rec)
	}
	a, err1 := parseI64("amount", f[1])
	e, err2 := parseI64("earnings", f[2])
	if err1 != nil || err2 != nil {
		return Payout{}, fmt.Errorf("%w: payout record %q", ErrCorrupt, rec)
	}
	return Payout{ID: id, Worker: worker, Amount: a, State: st, Earnings: e}, nil
}

// reservePayoutScript moves amount from a worker's earnings into an in-flight
// payout, once per payout id.
//
//	KEYS[1] earnings  KEYS[2] payouts  KEYS[3] worker totals
//	ARGV[1] payout id  ARGV[2] amount  ARGV[3] in-flight field
//	returns {"ok", record} | {"dup", record} | {"insufficient", earnings} | {"overflow"}
var reservePayoutScript = redis.NewScript(luaLib + `
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if rec then return {'dup', rec} end
local e = redis.call('GET', KEYS[1]) or '0'
if not ge(e, ARGV[2]) then return {'insufficient', e} end
if not fits(redis.call('HGET', KEYS[3], ARGV[3]) or '0', ARGV[2]) then return {'overflow'} end
redis.call('DECRBY', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3], ARGV[2])
rec = 'reserved|' .. ARGV[2] .. '|' .. redis.call('GET', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], rec)
return {'ok', rec}
`)

// ReservePayout takes amount out of worker's unpaid earnings into an
// in-flight payout recorded under payoutID, before the TON transfer is sent.
// It fails with *InsufficientEarningsError when earnings are short. A repeat
// returns the payout as it stands with Duplicate set (ErrConflict if the
// amount differs).
func (l *Ledger) ReservePayout(ctx context.Context, worker, payoutID string, amount int64) (Payout, error) {
	if err := validID("worker id", worker); err != nil {
		return Payout{}, err
	}
	if err := validID("payout id", payoutID); err != nil {
		return Payout{}, err
	}
	if err := validAmount("payout", amount); err != nil {
		return Payout{}, err
	}
	r, err := l.run(ctx, reservePayoutScript, []string{keyEarnings(worker), keyPayouts(worker), keyWorkerTotals(worker)},
		payoutID, i64(amount), fieldInFlight)
	if err != nil {
		return Payout{}, fmt.Errorf("ledger: reserve payout %s for worker %s: %w", payoutID, worker, err)
	}
	switch r[0] {
	case "ok", "dup":
		p, err := parsePayout(worker, payoutID, r[1])
		if err != nil {
			return Payout{}, err
		}
		if p.Amount != amount {
			return Payout{}, fmt.Errorf("%w: payout %s of worker %s was %d nanoTON, now %d", ErrConflict, payoutID, worker, p.Amount, amount)
		}
		p.Duplicate = r[0] == "dup"
		return p, nil
	case "insufficient":
		e, err := parseI64("earnings", r[1])
		if err != nil {
			return Payout{}, err
		}
		return Payout{}, &InsufficientEarningsError{Worker: worker, Earnings: e, Needed: amount}
	case "overflow":
		return Payout{}, fmt.Errorf("%w: payout %s of worker %s", ErrOverflow, payoutID, worker)
	}
	return Payout{}, fmt.Errorf("%w: reserve payout reply %q", ErrCorrupt, r[0])
}

// closePayoutScript moves an in-flight payout to confirmed (paid out) or to
// failed (back to earnings), once.
//
//	KEYS[1] earnings  KEYS[2] payouts  KEYS[3] worker totals
//	ARGV[1] payout id  ARGV[2] target state ("confirmed" or "failed")
//	ARGV[3] in-flight field  ARGV[4] paid-out field
//	returns {"ok", record} | {"dup", record} | {"closed", record} | {"unknown"} | {"corrupt", record} | {"overflow"}
var closePayoutScript = redis.NewScript(luaLib + `
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if not rec then return {'unknown'} end
local st, amt, e = string.match(rec, '^(%a+)|(%d+)|(-?%d+)$')
if not st then return {'corrupt', rec} end
if st == ARGV[2] then return {'dup', rec} end
if st ~= 'reserved' then return {'closed', rec} end
if ARGV[2] == 'confirmed' then
  if not fits(redis.call('HGET', KEYS[3], ARGV[4]) or '0', amt) then return {'overflow'} end
  redis.call('HINCRBY', KEYS[3], ARGV[3], '-' .. amt)
  redis.call('HINCRBY', KEYS[3], ARGV[4], amt)
else
  if not fits(redis.call('GET', KEYS[1]) or '0', amt) then return {'overflow'} end
  redis.call('HINCRBY', KEYS[3], ARGV[3], '-' .. amt)
  redis.call('INCRBY', KEYS[1], amt)
end
rec = ARGV[2] .. '|' .. amt .. '|' .. e
redis.call('HSET', KEYS[2], ARGV[1], rec)
return {'ok', rec}
`)

// ConfirmPayout records that the payout's TON transfer was found on chain.
func (l *Ledger) ConfirmPayout(ctx context.Context, worker, payoutID string) (Payout, error) {
	return l.closePayout(ctx, worker, payoutID, PayoutConfirmed)
}

// FailPayout records that the payout's transfer will never land; its amount
// returns to the worker's earnings.
func (l *Ledger) FailPayout(ctx context.Context, worker, payoutID string) (Payout, error) {
	return l.closePayout(ctx, worker, payoutID, PayoutFailed)
}

func (l *Ledger) closePayout(ctx context.Context, worker, payoutID string, to PayoutState) (Payout, error) {
	if err := validID("worker id", worker); err != nil {
		return Payout{}, err
	}
	if err := validID("payout id", payoutID); err != nil {
		return Payout{}, err
	}
	r, err := l.run(ctx, closePayoutScript, []string{keyEarnings(worker), keyPayouts(worker), keyWorkerTotals(worker)},
		payoutID, string(to), fieldInFlight, fieldPaidOut)
	if err != nil {
		return Payout{}, fmt.Errorf("ledger: %s payout %s for worker %s: %w", to, payoutID, worker, err)
	}
	switch r[0] {
	case "ok", "dup":
		p, err := parsePayout(worker, payoutID, r[1])
		p.Duplicate = r[0] == "dup"
		return p, err
	case "closed":
		return Payout{}, fmt.Errorf("%w: payout %s of worker %s is %s", ErrPayoutClosed, payoutID, worker, r[1])
	case "unknown":
		return Payout{}, fmt.Errorf("%w: %s of worker %s", ErrUnknownPayout, payoutID, worker)
	case "overflow":
		return Payout{}, fmt.Errorf("%w: payout %s of worker %s", ErrOverflow, payoutID, worker)
	}
	return Payout{}, fmt.Errorf("%w: payout %s of worker %s: %v", ErrCorrupt, payoutID, worker, r)
}

// Payouts lists a worker's payouts (all states), by id.
func (l *Ledger) Payouts(ctx context.Context, worker string) ([]Payout, error) {
	if err := validID("worker id", worker); err != nil {
		return nil, err
	}
	m, err := l.rdb.HGetAll(ctx, keyPayouts(worker)).Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: payouts of worker %s: %w", worker, err)
	}
	out := make([]Payout, 0, len(m))
	for id, rec := range m {
		p, err := parsePayout(worker, id, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// WorkerAccount is a worker's standing.
type WorkerAccount struct {
	Earnings int64 // unpaid, available for the next payout
	InFlight int64 // reserved payouts not yet confirmed or failed
	PaidOut  int64 // confirmed payouts, all time
}

// Worker returns a worker's earnings, in-flight and paid-out amounts.
func (l *Ledger) Worker(ctx context.Context, worker string) (WorkerAccount, error) {
	if err := validID("worker id", worker); err != nil {
		return WorkerAccount{}, err
	}
	var e *redis.StringCmd
	var t *redis.MapStringStringCmd
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		e = p.Get(ctx, keyEarnings(worker))
		t = p.HGetAll(ctx, keyWorkerTotals(worker))
		return nil
	})
	if err != nil && err != redis.Nil {
		return WorkerAccount{}, fmt.Errorf("ledger: worker %s: %w", worker, err)
	}
	var a WorkerAccount
	var err1, err2, err3 error
	a.Earnings, err1 = parseI64("earnings", e.Val())
	a.InFlight, err2 = parseI64(fieldInFlight, t.Val()[fieldInFlight])
	a.PaidOut, err3 = parseI64(fieldPaidOut, t.Val()[fieldPaidOut])
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return WorkerAccount{}, err
		}
	}
	return a, nil
}

// OperatorRevenue returns the operator's revenue applied so far.
func (l *Ledger) OperatorRevenue(ctx context.Context) (int64, error) {
	s, err := l.rdb.Get(ctx, keyRevenue()).Result()
	if err != nil && err != redis.Nil {
		return 0, fmt.Errorf("ledger: operator revenue: %w", err)
	}
	return parseI64("revenue", s)
}
