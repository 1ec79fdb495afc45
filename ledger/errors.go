package ledger

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the ledger returns for bad input or a refused
// operation wraps one of these; check with errors.Is. An operation that
// returns one of them changed nothing.
var (
	// ErrInvalidAmount: an amount is zero, negative, above MaxAmount, not an
	// integer, or a sum of amounts overflows.
	ErrInvalidAmount = errors.New("ledger: invalid amount")
	// ErrInvalidID: a user, worker, job, operation or payout id is empty, too
	// long, or holds a character the key schema forbids.
	ErrInvalidID = errors.New("ledger: invalid id")
	// ErrInvalidSource: a credit names a source other than ton, stars, escrow, trial.
	ErrInvalidSource = errors.New("ledger: invalid credit source")
	// ErrInvalidSettlement: a settlement's parts do not add up or are malformed.
	ErrInvalidSettlement = errors.New("ledger: invalid settlement")
	// ErrInsufficientBalance: the user's available balance is below the amount;
	// the concrete error is *InsufficientBalanceError.
	ErrInsufficientBalance = errors.New("ledger: insufficient balance")
	// ErrInsufficientEarnings: a worker's unpaid earnings are below a payout;
	// the concrete error is *InsufficientEarningsError.
	ErrInsufficientEarnings = errors.New("ledger: insufficient earnings")
	// ErrNoReservation: settle or release of a job that was never reserved.
	ErrNoReservation = errors.New("ledger: no reservation for job")
	// ErrJobClosed: settle of a released job, or release of a settled one.
	ErrJobClosed = errors.New("ledger: job already closed")
	// ErrChargeExceedsReservation: a settlement charges more than was reserved.
	ErrChargeExceedsReservation = errors.New("ledger: charge exceeds reservation")
	// ErrConflict: an operation id was used before with different parameters.
	ErrConflict = errors.New("ledger: operation id reused with different parameters")
	// ErrOverflow: the operation would push a counter past MaxCounter.
	ErrOverflow = errors.New("ledger: counter would overflow")
	// ErrUnknownPayout: confirm or fail of a payout id that was never reserved.
	ErrUnknownPayout = errors.New("ledger: unknown payout")
	// ErrPayoutClosed: confirm of a failed payout or fail of a confirmed one.
	ErrPayoutClosed = errors.New("ledger: payout already closed")
	// ErrUnknownModel: no price is configured for the model.
	ErrUnknownModel = errors.New("ledger: no price for model")
	// ErrInvalidPrices: the COCOON_PRICES setting does not parse.
	ErrInvalidPrices = errors.New("ledger: invalid " + PricesSetting)
	// ErrInvariant: Check found that the books do not balance.
	ErrInvariant = errors.New("ledger: invariant violated")
	// ErrCorrupt: a stored value does not have the shape the ledger writes.
	ErrCorrupt = errors.New("ledger: corrupt record")
)

// InsufficientBalanceError says how much the user has and how much was needed.
type InsufficientBalanceError struct {
	User    string
	Balance int64 // available nanoTON
	Needed  int64 // nanoTON the operation needed
}

func (e *InsufficientBalanceError) Error() string {
	return fmt.Sprintf("ledger: insufficient balance for user %s: available %d nanoTON, needed %d", e.User, e.Balance, e.Needed)
}

// Is makes errors.Is(err, ErrInsufficientBalance) true.
func (e *InsufficientBalanceError) Is(target error) bool { return target == ErrInsufficientBalance }

// InsufficientEarningsError says how much a worker has earned and how much a payout needed.
type InsufficientEarningsError struct {
	Worker   string
	Earnings int64
	Needed   int64
}

func (e *InsufficientEarningsError) Error() string {
	return fmt.Sprintf("ledger: insufficient earnings for worker %s: unpaid %d nanoTON, payout needs %d", e.Worker, e.Earnings, e.Needed)
}

// Is makes errors.Is(err, ErrInsufficientEarnings) true.
func (e *InsufficientEarningsError) Is(target error) bool { return target == ErrInsufficientEarnings }
