package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Balance is a user's money: Available to spend and Reserved for running jobs.
type Balance struct {
	Available int64
	Reserved  int64
}

// Balance reads a user's balance and reservations in one atomic step.
func (l *Ledger) Balance(ctx context.Context, user string) (Balance, error) {
	if err := validID("user", user); err != nil {
		return Balance{}, err
	}
	var b *redis.StringCmd
	var r *redis.StringSliceCmd
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		b = p.Get(ctx, keyBalance(user))
		r = p.HVals(ctx, keyReserved(user))
		return nil
	})
	if err != nil && err != redis.Nil {
		return Balance{}, fmt.Errorf("ledger: balance of user %s: %w", user, err)
	}
	var out Balance
	if out.Available, err = parseI64("balance", b.Val()); err != nil {
		return Balance{}, err
	}
	for _, v := range r.Val() {
		n, err := parseI64("reservation", v)
		if err != nil {
			return Balance{}, err
		}
		out.Reserved += n
	}
	return out, nil
}

// RecentCharges returns up to n of the user's latest charges, newest first.
func (l *Ledger) RecentCharges(ctx context.Context, user string, n int) ([]Charge, error) {
	if err := validID("user", user); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	vals, err := l.rdb.LRange(ctx, keyCharges(user), 0, int64(n)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: recent charges of user %s: %w", user, err)
	}
	out := make([]Charge, 0, len(vals))
	for _, v := range vals {
		var c Charge
		if err := json.Unmarshal([]byte(v), &c); err != nil {
			return nil, fmt.Errorf("%w: charge %q", ErrCorrupt, v)
		}
		out = append(out, c)
	}
	return out, nil
}

// UsageRow is one user's use of one model on one day (UTC).
type UsageRow struct {
	Day              string // YYYY-MM-DD
	Model            string
	PromptTokens     int64
	CompletionTokens int64
	Cost             int64 // nanoTON charged
	Jobs             int64
}

// MaxUsageDays bounds Usage's window.
const MaxUsageDays = 366

// Usage returns the user's usage for the last days days (today included),
// newest day first, models sorted by name.
func (l *Ledger) Usage(ctx context.Context, user string, days int) ([]UsageRow, error) {
	if err := validID("user", user); err != nil {
		return nil, err
	}
	if days < 1 || days > MaxUsageDays {
		return nil, fmt.Errorf("ledger: usage window of %d days, want 1..%d", days, MaxUsageDays)
	}
	today := l.now().UTC()
	cmds := make([]*redis.MapStringStringCmd, days)
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HGetAll(ctx, keyUsage(user, usageDay(today.AddDate(0, 0, -i))))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: usage of user %s: %w", user, err)
	}
	var out []UsageRow
	for i, c := range cmds {
		rows := map[string]*UsageRow{}
		for f, v := range c.Val() {
			model, field, ok := cut(f)
			if !ok {
				return nil, fmt.Errorf("%w: usage field %q", ErrCorrupt, f)
			}
			n, err := parseI64("usage", v)
			if err != nil {
				return nil, err
			}
			r := rows[model]
			if r == nil {
				r = &UsageRow{Day: today.AddDate(0, 0, -i).Format(time.DateOnly), Model: model}
				rows[model] = r
			}
			switch field {
			case "prompt":
				r.PromptTokens = n
			case "completion":
				r.CompletionTokens = n
			case "cost":
				r.Cost = n
			case "jobs":
				r.Jobs = n
			}
		}
		day := make([]UsageRow, 0, len(rows))
		for _, r := range rows {
			day = append(day, *r)
		}
		sort.Slice(day, func(a, b int) bool { return day[a].Model < day[b].Model })
		out = append(out, day...)
	}
	return out, nil
}

// cut splits "model|field" at the last '|'.
func cut(f string) (model, field string, ok bool) {
	i := strings.LastIndexByte(f, '|')
	if i <= 0 {
		return "", "", false
	}
	return f[:i], f[i+1:], true
}

// Reservations lists user's held reservations: job id -> nanoTON.
func (l *Ledger) Reservations(ctx context.Context, user string) (map[string]int64, error) {
	if err := validID("user", user); err != nil {
		return nil, err
	}
	m, err := l.rdb.HGetAll(ctx, keyReserved(user)).Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: reservations of user %s: %w", user, err)
	}
	out := make(map[string]int64, len(m))
	for job, v := range m {
		if out[job], err = parseI64("reservation", v); err != nil {
			return nil, err
		}
	}
	return out, nil
}
