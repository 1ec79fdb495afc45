package escrowsvc

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/ledger"
)

// What a user owes from escrow funds
//
// The ledger keeps no per-user total of charges, but its daily usage (one
// counter per user, day and model, written atomically by every settlement)
// adds up to exactly what the user was charged. The service therefore keeps,
// per escrow, a starting day and a base:
//
//	charged since registration X = base + Σ cost of every usage day ≥ since_day
//
// At registration since_day is the ledger's current day and base is minus that
// day's cost so far, so charges from before the registration do not count (a
// settlement racing the registration may land on either side). Days at least
// two days old are complete (the broker dates settlements now); they are folded
// into base from time to time, so the usage window stays short whatever the
// escrow's age and the 400-day usage retention never matters.
//
// Money in the user's balance is fungible; escrow funds count as spent first:
//
//	owed (cumulative, what vouchers claim) O = min(X, credited − refunded)
//
// where credited is the escrow deposits this service credited to the ledger and
// refunded what it recorded as ledger escrow refunds at withdrawals. A user who
// also tops up with TON or Stars therefore pays from the escrow until it is
// empty. After a withdrawal, credited − refunded equals what the treasury
// received, so later deposits are claimed only for later charges.

// foldAge is how old a usage day must be before it is folded into base.
const foldAge = 2

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func sumCost(rows []ledger.UsageRow, from, until string) int64 {
	var n int64
	for _, r := range rows {
		if r.Day >= from && (until == "" || r.Day < until) {
			n += r.Cost
		}
	}
	return n
}

// usageBaseline returns the registration's since_day and base.
func (s *Service) usageBaseline(ctx context.Context, user string, now time.Time) (string, int64, error) {
	today := day(now).Format(time.DateOnly)
	rows, err := s.cfg.Ledger.Usage(ctx, user, 1)
	if err != nil {
		return "", 0, fmt.Errorf("escrowsvc: usage of %s: %w", user, err)
	}
	for _, r := range rows { // the ledger's clock decides what today is
		today = r.Day
	}
	return today, -sumCost(rows, today, ""), nil
}

// foldScript moves complete usage days into base, unless another run did.
//
//	KEYS[1] user hash
//	ARGV[1] expected since_day  ARGV[2] new since_day  ARGV[3] cost of the folded days
//	returns 1 when folded, 0 when since_day had moved
var foldScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'since_day') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'since_day', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'base', ARGV[3])
return 1
`)

// chargedSince returns X, what user was charged since registering the escrow.
func (s *Service) chargedSince(ctx context.Context, user string) (int64, error) {
	h, err := s.rdb.HMGet(ctx, keyUser(user), fSinceDay, fBase).Result()
	if err != nil {
		return 0, fmt.Errorf("escrowsvc: charges of %s: %w", user, err)
	}
	since, _ := h[0].(string)
	baseStr, _ := h[1].(string)
	base, err := strconv.ParseInt(baseStr, 10, 64)
	sinceDay, derr := time.Parse(time.DateOnly, since)
	if err != nil || derr != nil {
		return 0, fmt.Errorf("escrowsvc: corrupt usage baseline of %s: %q %q", user, since, baseStr)
	}
	today := day(s.cfg.Now())
	days := int(today.Sub(sinceDay)/(24*time.Hour)) + 2 // +1 for today, +1 for a ledger clock a little ahead
	if days > ledger.MaxUsageDays {
		return 0, fmt.Errorf("escrowsvc: charges of %s: usage since %s is beyond the ledger's %d-day window", user, since, ledger.MaxUsageDays)
	}
	rows, err := s.cfg.Ledger.Usage(ctx, user, days)
	if err != nil {
		return 0, fmt.Errorf("escrowsvc: usage of %s: %w", user, err)
	}
	x := base + sumCost(rows, since, "")
	if fold := today.AddDate(0, 0, -foldAge); fold.After(sinceDay) {
		to := fold.Format(time.DateOnly)
		if err := foldScript.Run(ctx, s.rdb, []string{keyUser(user)}, since, to, sumCost(rows, since, to)).Err(); err != nil {
			return 0, fmt.Errorf("escrowsvc: fold usage of %s: %w", user, err)
		}
	}
	return x, nil
}
