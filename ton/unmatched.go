package ton

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"
)

// Reason says why an incoming transfer was not credited.
type Reason string

const (
	ReasonBounced     Reason = "bounced"      // a bounced message came back to the deposit account
	ReasonReturned    Reason = "returned"     // the chain sent the value back to the sender: nothing to refund
	ReasonZeroValue   Reason = "zero_value"   // no TON attached
	ReasonTooLarge    Reason = "too_large"    // more nanoTON than an int64 holds
	ReasonNoMemo      Reason = "no_memo"      // no text comment
	ReasonBadMemo     Reason = "bad_memo"     // a comment that is not a valid deposit memo
	ReasonUnknownUser Reason = "unknown_user" // a valid memo of a user the service does not know
	ReasonRefused     Reason = "refused"      // the ledger refused the credit (ErrCreditRefused)
)

// Unmatched is an incoming transfer that was recorded for manual refund
// instead of being credited.
type Unmatched struct {
	TxHash string `json:"tx"` // hex; the record's identity
	LT     uint64 `json:"lt"`
	Time   uint32 `json:"time"` // transaction unix time
	From   string `json:"from"`
	Amount string `json:"amount"` // nanoTON, decimal
	Memo   string `json:"memo,omitempty"`
	Reason Reason `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// UnmatchedStore records transfers for manual refund, once per transaction.
type UnmatchedStore interface {
	// RecordUnmatched returns false when the transaction was recorded before.
	RecordUnmatched(ctx context.Context, u Unmatched) (bool, error)
	ListUnmatched(ctx context.Context) ([]Unmatched, error)
}

// RedisUnmatched is an UnmatchedStore on the Redis hash cocoon:{ton}:unmatched.
type RedisUnmatched struct {
	rdb redis.UniversalClient
}

// NewRedisUnmatched returns an UnmatchedStore on rdb.
func NewRedisUnmatched(rdb redis.UniversalClient) *RedisUnmatched {
	return &RedisUnmatched{rdb: rdb}
}

// RecordUnmatched implements UnmatchedStore.
func (s *RedisUnmatched) RecordUnmatched(ctx context.Context, u Unmatched) (bool, error) {
	b, err := json.Marshal(u)
	if err != nil {
		return false, err
	}
	added, err := s.rdb.HSetNX(ctx, unmatchedKey(), u.TxHash, b).Result()
	if err != nil {
		return false, fmt.Errorf("record unmatched ton transfer: %w", err)
	}
	return added, nil
}

// ListUnmatched implements UnmatchedStore, oldest first.
func (s *RedisUnmatched) ListUnmatched(ctx context.Context) ([]Unmatched, error) {
	m, err := s.rdb.HGetAll(ctx, unmatchedKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list unmatched ton transfers: %w", err)
	}
	out := make([]Unmatched, 0, len(m))
	for k, v := range m {
		var u Unmatched
		if err := json.Unmarshal([]byte(v), &u); err != nil {
			return nil, fmt.Errorf("unmatched ton transfer %s: %w", k, err)
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LT < out[j].LT })
	return out, nil
}
