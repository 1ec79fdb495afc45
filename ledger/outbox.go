package ledger

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Payee kinds in outbox entries.
const (
	payeeWorker   = "w"
	payeeOperator = "op"
)

// outboxEntry is one payment a settlement owes: in transit from a user's slot
// to a worker's earnings or to operator revenue.
type outboxEntry struct {
	Seq    int64
	Kind   string // payeeWorker or payeeOperator
	Payee  string // worker id; "-" for the operator
	Amount int64
	JobID  string
}

func parseOutboxEntry(field, value string) (outboxEntry, error) {
	seq, err := strconv.ParseInt(field, 10, 64)
	f := strings.Split(value, "|")
	if err != nil || seq <= 0 || len(f) != 4 || (f[0] != payeeWorker && f[0] != payeeOperator) {
		return outboxEntry{}, fmt.Errorf("%w: outbox entry %s=%q", ErrCorrupt, field, value)
	}
	amt, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || amt <= 0 {
		return outboxEntry{}, fmt.Errorf("%w: outbox entry %s=%q", ErrCorrupt, field, value)
	}
	return outboxEntry{Seq: seq, Kind: f[0], Payee: f[1], Amount: amt, JobID: f[3]}, nil
}

// payeeKeys returns the balance key and applied-watermark key of a payee.
func (e outboxEntry) payeeKeys() (balance, applied string) {
	if e.Kind == payeeOperator {
		return keyRevenue(), keyOpApplied()
	}
	return keyEarnings(e.Payee), keyWorkerApplied(e.Payee)
}

// applyScript credits a payee (worker earnings or operator revenue) with one
// user's outbox entries, each exactly once. The payee keeps, per user, the
// highest outbox sequence number applied; entries at or below it were applied
// before and are skipped. The caller passes all of its snapshot's entries for
// this payee in ascending order; since entries leave the outbox only after
// being applied, a snapshot holding seq n also holds every unapplied lower one.
//
//	KEYS[1] payee balance (earnings or revenue)  KEYS[2] payee applied hash
//	ARGV[1] user  ARGV[2..] pairs: seq, amount (ascending seq)
//	returns {amount applied now} | {"overflow"}
var applyScript = redis.NewScript(luaLib + `
local wm = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local top, total = wm, '0'
for i = 2, #ARGV, 2 do
  local s = tonumber(ARGV[i])
  if s > top then
    total = add(total, ARGV[i + 1])
    top = s
  end
end
if top == wm then return {'0'} end
if not fits(redis.call('GET', KEYS[1]) or '0', total) then return {'overflow'} end
redis.call('INCRBY', KEYS[1], total)
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', top))
return {total}
`)

// applyEntries is step 1 of ApplyOutbox: credit every payee in its own slot.
func (l *Ledger) applyEntries(ctx context.Context, user string, entries []outboxEntry) error {
	groups := map[string][]outboxEntry{}
	var order []string
	for _, e := range entries {
		k := e.Kind + "|" + e.Payee
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	for _, k := range order {
		g := groups[k]
		bal, applied := g[0].payeeKeys()
		args := []any{user}
		for _, e := range g {
			args = append(args, i64(e.Seq), i64(e.Amount))
		}
		r, err := l.run(ctx, applyScript, []string{bal, applied}, args...)
		if err != nil {
			return fmt.Errorf("ledger: apply outbox of user %s to %s: %w", user, k, err)
		}
		if r[0] == "overflow" {
			return fmt.Errorf("%w: applying outbox of user %s to %s", ErrOverflow, user, k)
		}
	}
	return nil
}

// removeEntries is step 2 of ApplyOutbox: drop applied entries from the
// user's outbox.
func (l *Ledger) removeEntries(ctx context.Context, user string, entries []outboxEntry) error {
	if len(entries) == 0 {
		return nil
	}
	fields := make([]string, len(entries))
	for i, e := range entries {
		fields[i] = i64(e.Seq)
	}
	if err := l.rdb.HDel(ctx, keyOutbox(user), fields...).Err(); err != nil {
		return fmt.Errorf("ledger: trim outbox of user %s: %w", user, err)
	}
	return nil
}

// outbox reads a user's outbox entries, in ascending seq order.
func (l *Ledger) outbox(ctx context.Context, user string) ([]outboxEntry, error) {
	m, err := l.rdb.HGetAll(ctx, keyOutbox(user)).Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: read outbox of user %s: %w", user, err)
	}
	out := make([]outboxEntry, 0, len(m))
	var bad error
	for k, v := range m {
		e, err := parseOutboxEntry(k, v)
		if err != nil {
			bad = err
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, bad
}

// ApplyOutbox moves what user's settlements owe into worker earnings and
// operator revenue, exactly once: each payee is credited in its own slot,
// guarded by its per-user applied watermark, and only then are the entries
// removed from the user's outbox. A crash between the two steps, or two
// processes applying the same outbox at once, credits nobody twice. It
// returns the number of entries moved.
func (l *Ledger) ApplyOutbox(ctx context.Context, user string) (int, error) {
	if err := validID("user", user); err != nil {
		return 0, err
	}
	entries, bad := l.outbox(ctx, user)
	if len(entries) > 0 {
		if err := l.applyEntries(ctx, user, entries); err != nil {
			return 0, err
		}
		if err := l.removeEntries(ctx, user, entries); err != nil {
			return 0, err
		}
	}
	return len(entries), bad
}
