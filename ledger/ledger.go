package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Ledger is the authoritative money ledger on Redis (single node or Cluster).
// All its methods are safe for concurrent use by many processes.
type Ledger struct {
	rdb      redis.UniversalClient
	now      func() time.Time
	recent   int64
	usageTTL time.Duration
}

// Option configures New.
type Option func(*Ledger)

// WithClock sets the clock used to date charges and usage (default time.Now).
func WithClock(now func() time.Time) Option { return func(l *Ledger) { l.now = now } }

// WithRecentCharges sets how many recent charges each user keeps (default 50).
func WithRecentCharges(n int) Option {
	return func(l *Ledger) {
		if n > 0 {
			l.recent = int64(n)
		}
	}
}

// WithUsageRetention sets how long per-day usage is kept (default 400 days).
func WithUsageRetention(d time.Duration) Option {
	return func(l *Ledger) {
		if d >= time.Second {
			l.usageTTL = d
		}
	}
}

// New returns a Ledger on rdb: a *redis.Client, or a *redis.ClusterClient for
// Redis Cluster (the same scripts run on both: each touches one slot).
func New(rdb redis.UniversalClient, opts ...Option) *Ledger {
	l := &Ledger{rdb: rdb, now: time.Now, recent: 50, usageTTL: 400 * 24 * time.Hour}
	for _, o := range opts {
		o(l)
	}
	return l
}

// luaLib is prepended to every script. Lua numbers are doubles, exact only to
// 2^53, so amounts stay decimal strings inside scripts: compared with ge,
// added with add, and written with INCRBY/HINCRBY (exact int64 in Redis).
// Every script checks all its preconditions (fits included) before its first
// write, because Redis does not roll a script back when a command fails.
const luaLib = `
local MAXV = '9000000000000000000'
local function cmpabs(a, b)
  if #a ~= #b then if #a < #b then return -1 end return 1 end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then if x < y then return -1 end return 1 end
  end
  return 0
end
-- ge: a >= b for canonical decimal integers.
local function ge(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then return nb end
  if na then return cmpabs(string.sub(a, 2), string.sub(b, 2)) <= 0 end
  return cmpabs(a, b) >= 0
end
-- add: a + b for non-negative canonical decimal integers.
local function add(a, b)
  local r, carry, i, j = {}, 0, #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local s = carry
    if i > 0 then s = s + string.byte(a, i) - 48; i = i - 1 end
    if j > 0 then s = s + string.byte(b, j) - 48; j = j - 1 end
    r[#r + 1] = string.char(48 + s % 10)
    carry = math.floor(s / 10)
  end
  local out = string.reverse(table.concat(r))
  if out == '' then return '0' end
  return out
end
-- fits: a + b <= MAXV, for b >= 0.
local function fits(a, b)
  if string.sub(a, 1, 1) == '-' then return true end
  return ge(MAXV, add(a, b))
end
`

// strs converts a script's array reply to strings.
func strs(v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return nil, fmt.Errorf("%w: unexpected script reply %T", ErrCorrupt, v)
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		switch s := x.(type) {
		case string:
			out[i] = s
		case int64:
			out[i] = i64(s)
		case nil:
		default:
			return nil, fmt.Errorf("%w: unexpected script reply element %T", ErrCorrupt, x)
		}
	}
	return out, nil
}

// run runs a script and returns its reply as strings.
func (l *Ledger) run(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]string, error) {
	v, err := s.Run(ctx, l.rdb, keys, args...).Result()
	if err != nil {
		return nil, err
	}
	return strs(v)
}
