package ledger

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// reserveScript moves amount from a user's available balance into a
// reservation for one job, once per job.
//
//	KEYS[1] balance  KEYS[2] reserved  KEYS[3] ops
//	ARGV[1] job id   ARGV[2] amount    ARGV[3] op key
//	returns {"ok", balance} | {"dup", record} | {"insufficient", balance}
var reserveScript = redis.NewScript(luaLib + `
local rec = redis.call('HGET', KEYS[3], ARGV[3])
if rec then return {'dup', rec} end
local bal = redis.call('GET', KEYS[1]) or '0'
if not ge(bal, ARGV[2]) then return {'insufficient', bal} end
redis.call('DECRBY', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
bal = redis.call('GET', KEYS[1])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2] .. '|' .. bal)
return {'ok', bal}
`)

// Reserve sets amount aside from user's available balance for jobID before
// the job is queued. It fails with *InsufficientBalanceError (errors.Is
// ErrInsufficientBalance) when the balance is short; a failed Reserve is not
// recorded, so it may be retried after a top-up. A job id is reserved at most
// once: a repeat returns the first receipt (ErrConflict if the amount differs).
func (l *Ledger) Reserve(ctx context.Context, user, jobID string, amount int64) (Receipt, error) {
	if err := validID("user", user); err != nil {
		return Receipt{}, err
	}
	if err := validID("job id", jobID); err != nil {
		return Receipt{}, err
	}
	if err := validAmount("reservation", amount); err != nil {
		return Receipt{}, err
	}
	r, err := l.run(ctx, reserveScript, []string{keyBalance(user), keyReserved(user), keyOps(user)},
		jobID, i64(amount), opReserve(jobID))
	if err != nil {
		return Receipt{}, fmt.Errorf("ledger: reserve job %s for user %s: %w", jobID, user, err)
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
			return Receipt{}, fmt.Errorf("%w: job %s of user %s reserved %d nanoTON, now %d", ErrConflict, jobID, user, rc.Amount, amount)
		}
		rc.Duplicate = true
		return rc, nil
	case "insufficient":
		b, err := parseI64("balance", r[1])
		if err != nil {
			return Receipt{}, err
		}
		return Receipt{}, &InsufficientBalanceError{User: user, Balance: b, Needed: amount}
	}
	return Receipt{}, fmt.Errorf("%w: reserve reply %q", ErrCorrupt, r[0])
}

// releaseScript returns a job's whole reservation to the available balance,
// once per job.
//
//	KEYS[1] balance  KEYS[2] reserved  KEYS[3] ops
//	ARGV[1] job id   ARGV[2] release op key  ARGV[3] settle op key
//	returns {"ok", released, balance} | {"dup", record} | {"closed"} | {"none"} | {"overflow"}
var releaseScript = redis.NewScript(luaLib + `
local rec = redis.call('HGET', KEYS[3], ARGV[2])
if rec then return {'dup', rec} end
local res = redis.call('HGET', KEYS[2], ARGV[1])
if not res then
  if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return {'closed'} end
  return {'none'}
end
local bal = redis.call('GET', KEYS[1]) or '0'
if not fits(bal, res) then return {'overflow'} end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('INCRBY', KEYS[1], res)
bal = redis.call('GET', KEYS[1])
redis.call('HSET', KEYS[3], ARGV[2], res .. '|' .. bal)
return {'ok', res, bal}
`)

// Release refunds jobID's whole reservation to user's available balance: the
// job failed, its worker died, or it was cancelled before any text arrived.
// Receipt.Amount is the amount released. It fails with ErrNoReservation for
// a job never reserved and ErrJobClosed for a settled one; a repeat returns
// the first receipt.
func (l *Ledger) Release(ctx context.Context, user, jobID string) (Receipt, error) {
	if err := validID("user", user); err != nil {
		return Receipt{}, err
	}
	if err := validID("job id", jobID); err != nil {
		return Receipt{}, err
	}
	r, err := l.run(ctx, releaseScript, []string{keyBalance(user), keyReserved(user), keyOps(user)},
		jobID, opRelease(jobID), opSettle(jobID))
	if err != nil {
		return Receipt{}, fmt.Errorf("ledger: release job %s for user %s: %w", jobID, user, err)
	}
	switch r[0] {
	case "dup":
		rc, err := amountRecord(r[1])
		rc.Duplicate = err == nil
		return rc, err
	case "closed":
		return Receipt{}, fmt.Errorf("%w: job %s of user %s was settled", ErrJobClosed, jobID, user)
	}
	return returnedReply("release", user, jobID, r)
}

// returnedReply reads the replies a release and an unreserve share:
// {"ok", returned, balance} | {"none"} | {"overflow"}.
func returnedReply(op, user, jobID string, r []string) (Receipt, error) {
	switch r[0] {
	case "ok":
		if len(r) == 3 {
			a, err1 := parseI64("returned", r[1])
			b, err2 := parseI64("balance", r[2])
			if err1 == nil && err2 == nil {
				return Receipt{Amount: a, Balance: b}, nil
			}
		}
		return Receipt{}, fmt.Errorf("%w: %s reply %v", ErrCorrupt, op, r)
	case "none":
		return Receipt{}, fmt.Errorf("%w: job %s of user %s", ErrNoReservation, jobID, user)
	case "overflow":
		return Receipt{}, fmt.Errorf("%w: %s of job %s to user %s", ErrOverflow, op, jobID, user)
	}
	return Receipt{}, fmt.Errorf("%w: %s reply %q", ErrCorrupt, op, r[0])
}

// unreserveScript undoes a reservation whose job was never queued: the
// amount goes back to the balance and the reserve record is deleted, so
// the same job id can be reserved again.
//
//	KEYS[1] balance  KEYS[2] reserved  KEYS[3] ops
//	ARGV[1] job id   ARGV[2] reserve op key
//	returns {"ok", released, balance} | {"none"} | {"overflow"}
var unreserveScript = redis.NewScript(luaLib + `
local res = redis.call('HGET', KEYS[2], ARGV[1])
if not res then return {'none'} end
local bal = redis.call('GET', KEYS[1]) or '0'
if not fits(bal, res) then return {'overflow'} end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('INCRBY', KEYS[1], res)
redis.call('HDEL', KEYS[3], ARGV[2])
return {'ok', res, redis.call('GET', KEYS[1])}
`)

// Unreserve undoes jobID's reservation when the job was never queued (the
// queue was full, or the job store has no such job): the amount returns to
// user's available balance and the job id may be reserved again, so a
// submitter that retries with the same id is charged as usual. Release, by
// contrast, ends a job's money for good. It fails with ErrNoReservation when
// no reservation is held (never made, undone already, released or settled).
func (l *Ledger) Unreserve(ctx context.Context, user, jobID string) (Receipt, error) {
	if err := validID("user", user); err != nil {
		return Receipt{}, err
	}
	if err := validID("job id", jobID); err != nil {
		return Receipt{}, err
	}
	r, err := l.run(ctx, unreserveScript, []string{keyBalance(user), keyReserved(user), keyOps(user)},
		jobID, opReserve(jobID))
	if err != nil {
		return Receipt{}, fmt.Errorf("ledger: unreserve job %s for user %s: %w", jobID, user, err)
	}
	return returnedReply("unreserve", user, jobID, r)
}
