package ledger

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

const (
	// MaxAmount is the largest amount one operation may move: 10^18 nanoTON
	// (one billion TON).
	MaxAmount int64 = 1_000_000_000_000_000_000
	// MaxCounter is the largest value any ledger counter may reach (a balance,
	// earnings, revenue, a deposit total); operations that would pass it fail
	// with ErrOverflow before writing anything. It is below math.MaxInt64, and
	// above the whole TON supply.
	MaxCounter int64 = 9_000_000_000_000_000_000
	// MaxIDLen bounds every id.
	MaxIDLen = 128
	// MaxTokens bounds token counts in a settlement.
	MaxTokens int64 = 1_000_000_000_000
)

// validID checks a user, worker, job, op, payout id or model name: 1..MaxIDLen
// printable ASCII bytes without space or any of { } | * ? [ ] \ (which would
// break hash tags, the outbox encoding or SCAN patterns).
func validID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalidID, kind)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalidID, kind, len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c > '~' || strings.IndexByte(`{}|*?[]\`, c) >= 0 {
			return fmt.Errorf("%w: %s %q has forbidden byte %q at %d", ErrInvalidID, kind, id, c, i)
		}
	}
	return nil
}

// validAmount checks 0 < amount <= MaxAmount.
func validAmount(what string, amount int64) error {
	switch {
	case amount <= 0:
		return fmt.Errorf("%w: %s %d must be positive", ErrInvalidAmount, what, amount)
	case amount > MaxAmount:
		return fmt.Errorf("%w: %s %d is above the %d nanoTON limit", ErrInvalidAmount, what, amount, MaxAmount)
	}
	return nil
}

// ParseAmount parses a decimal nanoTON amount typed by a person or read from
// a setting: a positive integer no larger than MaxAmount, nothing else.
func ParseAmount(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("%w: empty", ErrInvalidAmount)
	}
	for i := 0; i < len(t); i++ {
		if (t[i] < '0' || t[i] > '9') && !(i == 0 && (t[i] == '-' || t[i] == '+')) {
			return 0, fmt.Errorf("%w: %q is not an integer number of nanoTON", ErrInvalidAmount, s)
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q overflows", ErrInvalidAmount, s)
	}
	if err := validAmount("amount", v); err != nil {
		return 0, err
	}
	return v, nil
}

// addChecked returns a+b or ok=false when the sum leaves int64.
func addChecked(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// parseI64 parses a stored counter; a missing value is 0.
func parseI64(what, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q", ErrCorrupt, what, s)
	}
	return v, nil
}
