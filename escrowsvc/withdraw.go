package escrowsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrReservationsPending: a withdrawal cannot be recorded yet because the
// user's running jobs still hold part of the balance; it is retried.
var ErrReservationsPending = errors.New("escrowsvc: withdrawal waits for the user's reservations to settle")

// Withdrawal is what the service recorded for one withdraw transaction.
//
// When the client withdraws, the escrow's whole balance goes back to it. For
// the ledger, the escrow's remaining credit is
//
//	remaining = credited − refunded − redeemed
//
// (what was credited and neither returned at an earlier withdrawal nor paid
// to the treasury). It leaves the service now, so it is recorded as ledger
// escrow refunds, which debit the user's balance and add to the invariant's
// "escrow refunds" term: Withdrawn (at most what the client received beyond
// the withdraw message's own value, refund id "escrow:<tx hash>") and Fees (the rest: the escrow's own redeem and
// storage fees, paid on chain from the client's money, refund id
// "escrow-fee:<tx hash>"). Afterwards credited − refunded equals what the
// treasury received, as it must. When the user's balance cannot cover it
// (charges that could not be redeemed before the close), the uncovered part is
// Shortfall: the operator's loss, kept on the escrow's record.
type Withdrawal struct {
	Received  uint64 `json:"received"` // nanoTON the client received
	Attached  uint64 `json:"attached"` // nanoTON attached to the withdraw message (sent back with the rest)
	Remaining int64  `json:"remaining"`
	Withdrawn int64  `json:"withdrawn"`
	Fees      int64  `json:"fees"`
	Shortfall int64  `json:"shortfall"`
}

// decideWithdrawScript records the withdrawal once and counts its refunds.
//
//	KEYS[1] ops hash  KEYS[2] user hash
//	ARGV[1] op field  ARGV[2] decision JSON  ARGV[3] refunded (withdrawn + fees)  ARGV[4] shortfall (outstanding, replaces the last)
//	returns the stored decision JSON (the earlier one on a repeat)
var decideWithdrawScript = redis.NewScript(`
local d = redis.call('HGET', KEYS[1], ARGV[1])
if d then return d end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'refunded', ARGV[3])
redis.call('HSET', KEYS[2], 'shortfall', ARGV[4])
redis.call('HSET', KEYS[2], 'close_at', '0')
return ARGV[2]
`)

// withdrawn records the client's withdrawal in tx txHash: the client received
// received nanoTON, attached being the withdraw message's own value (which the
// escrow sends back with the rest and which was never credited).
func (s *Service) withdrawn(ctx context.Context, user, txHash string, received, attached uint64) error {
	op := opWithdraw(txHash)
	raw, err := s.rdb.HGet(ctx, keyOps(user), op).Result()
	if errors.Is(err, redis.Nil) {
		raw, err = s.decideWithdrawal(ctx, user, txHash, received, attached)
	}
	if err != nil {
		return err
	}
	var w Withdrawal
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return fmt.Errorf("withdrawal %s: corrupt record %q", txHash, raw)
	}
	if w.Withdrawn > 0 {
		if _, err := s.cfg.Ledger.EscrowRefund(ctx, user, "escrow:"+txHash, w.Withdrawn); err != nil {
			return fmt.Errorf("withdrawal %s: %w", txHash, err)
		}
	}
	if w.Fees > 0 {
		if _, err := s.cfg.Ledger.EscrowRefund(ctx, user, "escrow-fee:"+txHash, w.Fees); err != nil {
			return fmt.Errorf("withdrawal %s: fees: %w", txHash, err)
		}
	}
	return nil
}

func (s *Service) decideWithdrawal(ctx context.Context, user, txHash string, received, attached uint64) (string, error) {
	st, err := s.Status(ctx, user)
	if err != nil {
		return "", err
	}
	w := Withdrawal{Received: received, Attached: attached, Remaining: max(0, st.Credited-st.Refunded-int64(st.Redeemed))}
	bal, err := s.cfg.Ledger.Balance(ctx, user)
	if err != nil {
		return "", err
	}
	if bal.Available < w.Remaining && bal.Reserved > 0 {
		return "", fmt.Errorf("%w: user %s has %d available, %d reserved, needs %d", ErrReservationsPending, user, bal.Available, bal.Reserved, w.Remaining)
	}
	covered := min(w.Remaining, max(0, bal.Available))
	var back uint64 // what the client got back of the escrow's earlier balance
	if received > attached {
		back = received - attached
	}
	w.Withdrawn = int64(min(back, uint64(covered)))
	w.Fees = covered - w.Withdrawn
	w.Shortfall = w.Remaining - covered
	if back > uint64(w.Remaining) {
		s.log.Warn("escrow withdrawal exceeds the ledger's remaining credit (uncredited deposits went back)",
			"user", user, "tx", txHash, "received", received, "remaining", w.Remaining)
	}
	if w.Shortfall > 0 {
		s.log.Error("escrow shortfall: charges neither redeemed nor covered by the balance", "user", user, "tx", txHash, "shortfall", w.Shortfall)
	}
	raw, _ := json.Marshal(w)
	out, err := decideWithdrawScript.Run(ctx, s.rdb, []string{keyOps(user), keyUser(user)},
		opWithdraw(txHash), string(raw), w.Withdrawn+w.Fees, w.Shortfall).Text()
	if err != nil {
		return "", fmt.Errorf("record withdrawal %s: %w", txHash, err)
	}
	s.log.Info("escrow withdrawal recorded", "user", user, "tx", txHash, "received", received, "withdrawn", w.Withdrawn, "fees", w.Fees)
	return out, nil
}
