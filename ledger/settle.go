package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxSegments bounds the worker segments of one settlement.
const MaxSegments = 64

// Segment is what one worker earns from a job: a segment it finished and
// signed. A dead worker's segment is not a Segment: its share goes to Operator.
type Segment struct {
	WorkerID string
	Amount   int64 // nanoTON, > 0
}

// Settlement closes a reserved job. Charge must equal the sum of the segment
// amounts plus Operator and be at most the reservation; the rest of the
// reservation is released. A job whose user received nothing is Released,
// not settled.
type Settlement struct {
	User     string
	JobID    string
	Charge   int64     // what the user pays, > 0
	Segments []Segment // paid to workers that finished and signed their segment
	Operator int64     // commission plus the share of dead workers' segments, >= 0

	Model            string // for usage; must be a valid id
	PromptTokens     int64
	CompletionTokens int64
	At               time.Time // dates the charge and usage; zero means now
}

// SettleReceipt is the result of Settle.
type SettleReceipt struct {
	Charged   int64 // nanoTON charged
	Released  int64 // nanoTON of the reservation returned to the balance
	Balance   int64 // available balance right after the first run
	Duplicate bool
}

// Charge is one entry of a user's recent charges.
type Charge struct {
	JobID            string    `json:"job"`
	Model            string    `json:"model"`
	PromptTokens     int64     `json:"prompt"`
	CompletionTokens int64     `json:"completion"`
	Amount           int64     `json:"amount"`
	At               time.Time `json:"at"`
}

func (s *Settlement) validate() error {
	if err := validID("user", s.User); err != nil {
		return err
	}
	if err := validID("job id", s.JobID); err != nil {
		return err
	}
	if err := validID("model", s.Model); err != nil {
		return err
	}
	if err := validAmount("charge", s.Charge); err != nil {
		return fmt.Errorf("%w (a job that delivered nothing is released, not settled)", err)
	}
	if s.PromptTokens < 0 || s.PromptTokens > MaxTokens || s.CompletionTokens < 0 || s.CompletionTokens > MaxTokens {
		return fmt.Errorf("%w: token counts %d/%d out of range 0..%d", ErrInvalidSettlement, s.PromptTokens, s.CompletionTokens, MaxTokens)
	}
	if len(s.Segments) > MaxSegments {
		return fmt.Errorf("%w: %d segments, at most %d", ErrInvalidSettlement, len(s.Segments), MaxSegments)
	}
	if s.Operator < 0 || s.Operator > MaxAmount {
		return fmt.Errorf("%w: operator amount %d out of range 0..%d", ErrInvalidAmount, s.Operator, MaxAmount)
	}
	sum := s.Operator
	for i, seg := range s.Segments {
		if err := validID("worker id", seg.WorkerID); err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		if err := validAmount(fmt.Sprintf("segment %d amount", i), seg.Amount); err != nil {
			return err
		}
		var ok bool
		if sum, ok = addChecked(sum, seg.Amount); !ok {
			return fmt.Errorf("%w: segment amounts overflow", ErrInvalidAmount)
		}
	}
	if sum != s.Charge {
		return fmt.Errorf("%w: charge %d != segments + operator %d", ErrInvalidSettlement, s.Charge, sum)
	}
	return nil
}

// fingerprint identifies a settlement's money parts, so a retry with other
// amounts is told apart from a true repeat.
func (s *Settlement) fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%d|%s|%d|%d", s.Charge, s.Operator, s.Model, s.PromptTokens, s.CompletionTokens)
	for _, seg := range s.Segments {
		fmt.Fprintf(&b, "|%s=%d", seg.WorkerID, seg.Amount)
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:8])
}

func usageDay(t time.Time) string { return t.UTC().Format("20060102") }

// settleScript closes a job: it drops the reservation, returns the excess to
// the balance, writes one outbox entry per payee (worker segments, then the
// operator), and records the charge and the day's usage, once per job.
//
//	KEYS[1] balance  KEYS[2] reserved  KEYS[3] ops  KEYS[4] outbox  KEYS[5] outseq
//	KEYS[6] charges  KEYS[7] usage of the day
//	ARGV[1] job id  ARGV[2] charge  ARGV[3] settle op key  ARGV[4] release op key
//	ARGV[5] fingerprint  ARGV[6] charge JSON  ARGV[7] recent charges kept
//	ARGV[8] usage ttl seconds  ARGV[9] model  ARGV[10] prompt tokens  ARGV[11] completion tokens
//	ARGV[12] n payees, then n triples: kind ("w" or "op"), payee, amount
//	returns {"ok", reserved, balance} | {"dup", record} | {"closed"} | {"none"}
//	      | {"exceeds", reserved} | {"overflow"}
var settleScript = redis.NewScript(luaLib + `
local job = ARGV[1]
local rec = redis.call('HGET', KEYS[3], ARGV[3])
if rec then return {'dup', rec} end
local res = redis.call('HGET', KEYS[2], job)
if not res then
  if redis.call('HEXISTS', KEYS[3], ARGV[4]) == 1 then return {'closed'} end
  return {'none'}
end
if not ge(res, ARGV[2]) then return {'exceeds', res} end
local bal = redis.call('GET', KEYS[1]) or '0'
local m = ARGV[9]
if not fits(bal, res)
  or not fits(redis.call('HGET', KEYS[7], m .. '|cost') or '0', ARGV[2])
  or not fits(redis.call('HGET', KEYS[7], m .. '|prompt') or '0', ARGV[10])
  or not fits(redis.call('HGET', KEYS[7], m .. '|completion') or '0', ARGV[11]) then
  return {'overflow'}
end
redis.call('HDEL', KEYS[2], job)
redis.call('INCRBY', KEYS[1], res)
redis.call('DECRBY', KEYS[1], ARGV[2])
local n = tonumber(ARGV[12])
for i = 0, n - 1 do
  local b = 13 + i * 3
  local seq = string.format('%d', redis.call('INCR', KEYS[5]))
  redis.call('HSET', KEYS[4], seq, ARGV[b] .. '|' .. ARGV[b + 1] .. '|' .. ARGV[b + 2] .. '|' .. job)
end
redis.call('LPUSH', KEYS[6], ARGV[6])
redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[7]) - 1)
redis.call('HINCRBY', KEYS[7], m .. '|cost', ARGV[2])
redis.call('HINCRBY', KEYS[7], m .. '|prompt', ARGV[10])
redis.call('HINCRBY', KEYS[7], m .. '|completion', ARGV[11])
redis.call('HINCRBY', KEYS[7], m .. '|jobs', 1)
redis.call('EXPIRE', KEYS[7], ARGV[8])
bal = redis.call('GET', KEYS[1])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2] .. '|' .. res .. '|' .. bal .. '|' .. ARGV[5])
return {'ok', res, bal}
`)

// Settle closes a reserved job in one atomic step on the user's slot: the
// user pays s.Charge, the rest of the reservation is released, and what the
// workers and the operator are owed goes into the user's outbox, which
// ApplyOutbox (or the Aggregator) moves to their earnings exactly once. A
// repeat returns the first receipt (ErrConflict if the amounts differ).
func (l *Ledger) Settle(ctx context.Context, s Settlement) (SettleReceipt, error) {
	if err := s.validate(); err != nil {
		return SettleReceipt{}, err
	}
	at := s.At
	if at.IsZero() {
		at = l.now()
	}
	chargeJSON, err := json.Marshal(Charge{JobID: s.JobID, Model: s.Model, PromptTokens: s.PromptTokens,
		CompletionTokens: s.CompletionTokens, Amount: s.Charge, At: at.UTC()})
	if err != nil {
		return SettleReceipt{}, err
	}
	fp := s.fingerprint()
	args := []any{s.JobID, i64(s.Charge), opSettle(s.JobID), opRelease(s.JobID), fp, string(chargeJSON),
		l.recent, int64(l.usageTTL / time.Second), s.Model, i64(s.PromptTokens), i64(s.CompletionTokens), 0}
	n := 0
	for _, seg := range s.Segments {
		args = append(args, payeeWorker, seg.WorkerID, i64(seg.Amount))
		n++
	}
	if s.Operator > 0 {
		args = append(args, payeeOperator, "-", i64(s.Operator))
		n++
	}
	args[11] = n
	keys := []string{keyBalance(s.User), keyReserved(s.User), keyOps(s.User), keyOutbox(s.User),
		keyOutSeq(s.User), keyCharges(s.User), keyUsage(s.User, usageDay(at))}
	r, err := l.run(ctx, settleScript, keys, args...)
	if err != nil {
		return SettleReceipt{}, fmt.Errorf("ledger: settle job %s for user %s: %w", s.JobID, s.User, err)
	}
	switch r[0] {
	case "ok":
		res, err1 := parseI64("reserved", r[1])
		bal, err2 := parseI64("balance", r[2])
		if err1 != nil || err2 != nil {
			return SettleReceipt{}, fmt.Errorf("%w: settle reply %v", ErrCorrupt, r)
		}
		l.notePending(ctx, s.User)
		return SettleReceipt{Charged: s.Charge, Released: res - s.Charge, Balance: bal}, nil
	case "dup":
		f, err := splitRecord(r[1], 4)
		if err != nil {
			return SettleReceipt{}, err
		}
		if f[3] != fp {
			return SettleReceipt{}, fmt.Errorf("%w: job %s of user %s was settled with other amounts", ErrConflict, s.JobID, s.User)
		}
		c, err1 := strconv.ParseInt(f[0], 10, 64)
		res, err2 := strconv.ParseInt(f[1], 10, 64)
		bal, err3 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return SettleReceipt{}, fmt.Errorf("%w: settle record %q", ErrCorrupt, r[1])
		}
		l.notePending(ctx, s.User)
		return SettleReceipt{Charged: c, Released: res - c, Balance: bal, Duplicate: true}, nil
	case "closed":
		return SettleReceipt{}, fmt.Errorf("%w: job %s of user %s was released", ErrJobClosed, s.JobID, s.User)
	case "none":
		return SettleReceipt{}, fmt.Errorf("%w: job %s of user %s", ErrNoReservation, s.JobID, s.User)
	case "exceeds":
		return SettleReceipt{}, fmt.Errorf("%w: job %s of user %s charges %d, reserved %s", ErrChargeExceedsReservation, s.JobID, s.User, s.Charge, r[1])
	case "overflow":
		return SettleReceipt{}, fmt.Errorf("%w: settle job %s of user %s", ErrOverflow, s.JobID, s.User)
	}
	return SettleReceipt{}, fmt.Errorf("%w: settle reply %q", ErrCorrupt, r[0])
}

// notePending tells the aggregator that user has outbox entries. It is only a
// hint: when it is lost, the aggregator's sweep finds the entries anyway.
func (l *Ledger) notePending(ctx context.Context, user string) {
	_ = l.rdb.SAdd(ctx, keyPending(), user).Err()
}
