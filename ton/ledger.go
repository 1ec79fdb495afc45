package ton

import (
	"context"
	"errors"
	"fmt"

	"github.com/cocoon-network/cocoon/ledger"
)

// ErrCreditRefused marks a Credit error that retrying cannot fix (an amount
// or id the ledger does not accept). The watcher records such a transfer for
// manual refund instead of retrying it forever.
var ErrCreditRefused = errors.New("the ledger refused the credit")

// LedgerAdapter makes the Redis ledger (package ledger) this package's
// Ledger and PayoutLedger.
type LedgerAdapter struct {
	L *ledger.Ledger
}

var (
	_ Ledger       = LedgerAdapter{}
	_ PayoutLedger = LedgerAdapter{}
)

// Credit implements Ledger; a repeat of opID is a no-op in the ledger.
func (a LedgerAdapter) Credit(ctx context.Context, user, opID, source string, amount int64) error {
	_, err := a.L.Credit(ctx, user, opID, ledger.Source(source), amount)
	if isPermanent(err) {
		return fmt.Errorf("%w: %w", ErrCreditRefused, err)
	}
	return err
}

// ReservePayout implements PayoutLedger.
func (a LedgerAdapter) ReservePayout(ctx context.Context, worker, payoutID string, amount int64) error {
	_, err := a.L.ReservePayout(ctx, worker, payoutID, amount)
	return err
}

// ConfirmPayout implements PayoutLedger.
func (a LedgerAdapter) ConfirmPayout(ctx context.Context, worker, payoutID string) error {
	_, err := a.L.ConfirmPayout(ctx, worker, payoutID)
	return err
}

// FailPayout implements PayoutLedger; a payout that was never reserved has
// nothing to give back.
func (a LedgerAdapter) FailPayout(ctx context.Context, worker, payoutID string) error {
	_, err := a.L.FailPayout(ctx, worker, payoutID)
	if errors.Is(err, ledger.ErrUnknownPayout) {
		return nil
	}
	return err
}

func isPermanent(err error) bool {
	for _, e := range []error{ledger.ErrInvalidAmount, ledger.ErrInvalidID, ledger.ErrInvalidSource, ledger.ErrConflict, ledger.ErrOverflow} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// LedgerDue lists every worker with unpaid earnings in the ledger and where
// to pay them; it is the Payer's DueSource.
type LedgerDue struct {
	L *ledger.Ledger
	// PayoutAddress returns a worker's TON address; "" skips the worker.
	PayoutAddress func(ctx context.Context, worker string) (string, error)
}

// DuePayouts implements DueSource.
func (d LedgerDue) DuePayouts(ctx context.Context) ([]Due, error) {
	workers, err := d.L.Workers(ctx)
	if err != nil {
		return nil, err
	}
	var out []Due
	for _, w := range workers {
		acct, err := d.L.Worker(ctx, w)
		if err != nil {
			return nil, err
		}
		if acct.Earnings <= 0 {
			continue
		}
		to, err := d.PayoutAddress(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("payout address of worker %s: %w", w, err)
		}
		if to != "" {
			out = append(out, Due{Worker: w, To: to, Amount: acct.Earnings})
		}
	}
	return out, nil
}
